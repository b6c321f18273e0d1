//go:build !soak

package soak

const soakTag = false
