package processor

// SetEndSeen makes every End of p's members pass through fn, which may
// change what it returned (see Processor.endSeen). Call it before Run.
func SetEndSeen[S any](p *Processor[S], fn func(committed bool, err error) (bool, error)) {
	p.endSeen = fn
}
