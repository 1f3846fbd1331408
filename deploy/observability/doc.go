// Package observability holds catering-match's Grafana dashboard
// (catering-match-dashboard.json) and Prometheus alerting rules
// (catering-match-alerts.yaml), and the test that parses both with
// Prometheus' own parsers and checks every metric they name against the
// /metrics of the running binary. It has no code of its own.
package observability
