// Package webhook delivers Hopper's signed completion webhooks.
//
// It has three parts, each usable alone:
//
//   - Signing: Sign produces the Hopper-Signature header
//     (`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`), the
//     scheme Stripe and Standard Webhooks use; SignAll signs with several
//     secrets at once (one v1 each) while a sender rotates them; Verify
//     checks a header on the receiving side in constant time, rejects
//     stale timestamps and accepts any of several v1 values.
//   - The URL guard: CheckURL refuses non-HTTP URLs and, unless private
//     targets are allowed (HOPPER_WEBHOOK_ALLOW_PRIVATE), literal loopback,
//     private, link-local (cloud metadata), unspecified and multicast
//     addresses. Because DNS can rebind between the check and the request,
//     the Deliverer's dialer enforces the same rule on the IP it actually
//     connects to.
//   - Delivery: Deliverer.Deliver makes exactly one POST of a Message,
//     signed with the secrets it carries (a tenant's own, never one shared
//     by every tenant) under a Hopper-Delivery id that DeliveryID keeps
//     stable across retries, and classifies the outcome: success, a
//     permanent failure (IsPermanent) or a retryable one, possibly
//     carrying the receiver's Retry-After (RetryAfter). Retrying with
//     backoff is the job runtime's business (pkg/worker, jobs.Backoff).
package webhook
