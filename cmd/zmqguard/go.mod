module github.com/zmqguard/zmqguard/cmd/zmqguard

go 1.26.0

require (
	github.com/prometheus/client_golang v1.25.0
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.74.0
	github.com/stretchr/testify v1.12.1
	github.com/zmqguard/zmqguard v0.0.0
	github.com/zmqguard/zmqguard/contrib/bbolt v0.0.0
	github.com/zmqguard/zmqguard/contrib/dnstest v0.0.0-00010101000000-000000000000
	go.etcd.io/etcd/client/v3 v3.5.21
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.17.0
)

require (
	github.com/coreos/go-semver v0.3.0 // indirect
	github.com/coreos/go-systemd/v22 v22.3.2 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/miekg/dns v1.1.68 // indirect
	go.etcd.io/etcd/api/v3 v3.5.21 // indirect
	go.etcd.io/etcd/client/pkg/v3 v3.5.21 // indirect
	go.uber.org/atomic v1.7.0 // indirect
	go.uber.org/multierr v1.6.0 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
	google.golang.org/genproto v0.0.0-20230822172742-b8732ec3820d // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20230822172742-b8732ec3820d // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20230822172742-b8732ec3820d // indirect
	google.golang.org/grpc v1.59.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pandatix/go-abnf v0.5.5 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
)

require (
	github.com/pebbe/zmq4 v1.4.0 // indirect
	github.com/zmqguard/zmqguard/contrib/etcd v0.0.0
	github.com/zmqguard/zmqguard/contrib/prometheus v0.0.0
	github.com/zmqguard/zmqguard/contrib/slog v0.0.0
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

replace github.com/zmqguard/zmqguard => ../..

replace github.com/zmqguard/zmqguard/contrib/prometheus => ../../contrib/prometheus

replace github.com/zmqguard/zmqguard/contrib/slog => ../../contrib/slog

replace github.com/zmqguard/zmqguard/contrib/bbolt => ../../contrib/bbolt

replace github.com/zmqguard/zmqguard/contrib/etcd => ../../contrib/etcd

replace github.com/zmqguard/zmqguard/contrib/dnstest => ../../contrib/dnstest
