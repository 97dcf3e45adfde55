// Package integration holds the Go client's tests against a real sluiced producing to
// Tansu (started through tools/harness), read back with confluent-kafka's consumer.
//
// Environment: SLUICED (default <repo>/.build/debug/sluiced), SLUICE_PYTHON (default
// <repo>/.venv/bin/python, made by scripts/bootstrap).
package integration
