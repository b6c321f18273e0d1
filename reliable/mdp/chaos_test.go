package mdp_test

func runWorkerPeer() error { return nil }
func runBrokerPeer() error { return nil }
