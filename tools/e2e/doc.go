// Package e2e holds Hopper's end-to-end tests: they build the real service
// binaries, start them as processes against the real RabbitMQ and Postgres
// (isolated by schema and AMQP prefix), and talk to them over HTTP only.
package e2e
