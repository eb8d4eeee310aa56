// Package broker is Hopper's RabbitMQ layer: it declares the AMQP topology
// (a topic exchange routing job kinds into per-domain priority queues, a
// dead-letter exchange and queue, and a control fanout), publishes job
// envelopes with publisher confirms, and consumes deliveries.
//
// Messages carry a claim-check envelope ({"job_id", "attempt"}), never the
// job payload: Postgres is the source of truth, the broker only says "this
// job is ready to run".
//
// Publisher and Consumer each own one connection and recover from
// connection or channel loss by themselves: their Run loops reconnect with
// capped exponential backoff and re-declare the topology, so a broker
// restart needs no operator action.
package broker
