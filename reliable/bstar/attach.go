package bstar

import "context"

// Attach runs p beside the server that owns it, the way a server adopts
// Binary Star (see the package doc): it starts p.Run and returns a context
// that ends when ctx does or when p stops by itself with a fatal error,
// which is when the server must stop serving. The server runs on that
// context and calls detach when it has stopped: detach cancels the
// context, waits for Run, closes p and returns p's fatal error, or nil if
// p stopped because the server did. A nil p attaches nothing: the context
// is ctx's child and detach returns nil.
func Attach(ctx context.Context, p *Pair) (serve context.Context, detach func() error) {
	serve, stop := context.WithCancel(ctx)
	if p == nil {
		return serve, func() error { stop(); return nil }
	}
	var fatal error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := p.Run(serve)
		if serve.Err() == nil {
			fatal = err // the pair stopped by itself
		}
		stop()
	}()
	return serve, func() error {
		stop()
		<-done
		p.Close()
		return fatal
	}
}
