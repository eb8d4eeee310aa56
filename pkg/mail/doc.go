// Package mail sends Hopper's e-mail over SMTP (the maintenance.email kind
// and job notices) with github.com/wneessen/go-mail.
//
// New builds a Sender from a Config whose fields map to the HOPPER_SMTP_*
// settings; an empty host yields ErrNotConfigured naming HOPPER_SMTP_HOST,
// so a kind without a mail server fails at once with a clear permanent
// error. The package never reads the environment.
//
// Send makes one delivery attempt over a fresh connection and classifies
// failures: a 5xx SMTP reply (550 no such user, 535 bad credentials, …) or
// a message that cannot be built is permanent (IsPermanent); 4xx replies,
// timeouts and network errors are retryable.
//
// RenderJobFinished renders the job-finished notice from templates
// embedded in the binary (text/template for the plain part, html/template
// for the HTML part).
package mail
