// Package zgslog logs what zmqguard does through log/slog: an
// observe.Observer that writes one structured record per event, at a
// level that says how much it matters (Debug for the expected, Warn for
// what went wrong and was handled, Error for a handler panic), with the
// component, endpoint, request id, attempt, outcome and error as
// attributes.
//
//	log := zgslog.New(slog.Default())
//	c, err := reliable.NewClient(zctx, eps, reliable.WithObserver(log))
//	srv, err := reliable.Listen(zctx, ep, h, reliable.WithServerObserver(log))
//
// # Concurrency
//
// An Observer is safe for concurrent use; it checks the logger's level
// before building a record, so the Debug events of every message cost a
// call to Enabled when Debug is off.
package zgslog
