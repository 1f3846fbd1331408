// Package integration holds the black-box suite: it builds the two binaries,
// runs them as separate processes against a broker chosen at start
// (KAFKA_BROKERS, else testcontainers when Docker answers, else an embedded
// broker), and checks their output against an oracle of its own.
package integration
