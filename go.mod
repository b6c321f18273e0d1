module github.com/zmqguard/zmqguard

go 1.25

require (
	github.com/pebbe/zmq4 v1.4.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
