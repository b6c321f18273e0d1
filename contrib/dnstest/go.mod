module github.com/zmqguard/zmqguard/contrib/dnstest

go 1.25

require (
	github.com/miekg/dns v1.1.68
	github.com/stretchr/testify v1.12.1
	github.com/zmqguard/zmqguard v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

require (
	github.com/pebbe/zmq4 v1.4.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/mod v0.24.0 // indirect
	golang.org/x/net v0.40.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
	golang.org/x/sys v0.33.0 // indirect
	golang.org/x/tools v0.33.0 // indirect
)

replace github.com/zmqguard/zmqguard => ../..
