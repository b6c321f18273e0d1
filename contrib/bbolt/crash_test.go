package bbolt_test

const roleEnv = "ZMQGUARD_CRASH_ROLE"

func runRole(role string) int { return 2 }
