// Package dispatch is the gateway's background dispatcher: one gateway
// replica leads (a Postgres advisory lock), and while it leads it publishes
// jobs that became due (scheduled run_at, retry backoff), republishes
// accepted jobs whose publish was never confirmed (the outbox), and reaps
// running jobs whose lease expired because their worker died. The same
// pass creates the jobs of due cron schedules, admits held jobs and
// enqueues follow-ups (webhooks, job-finished mails).
package dispatch
