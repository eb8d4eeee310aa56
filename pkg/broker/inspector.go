package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Where an Inspector reads queue figures from.
const (
	SourceManagement = "management"
	SourceAMQP       = "amqp"
)

// DefaultInspectTimeout bounds one Inspector.Queues call when
// InspectorOptions.Timeout is unset: a dashboard polling a slow broker
// must get an answer quickly, even an incomplete one.
const DefaultInspectTimeout = 3 * time.Second

// maxManagementBody caps what is read of one management API answer.
const maxManagementBody = 1 << 20

// ErrQueueNotFound: the broker has no queue of that name (yet).
var ErrQueueNotFound = errors.New("queue does not exist")

// InspectorOptions configure an Inspector.
type InspectorOptions struct {
	// AMQPURL is the broker; its vhost is also the one asked about over
	// the management API.
	AMQPURL string
	// ManagementURL is the management plugin's base URL with credentials
	// (http://user:pass@host:15672). Empty: read the queues over AMQP.
	ManagementURL string
	Topology      Topology
	// JobQueues, when set, names the job queues to report (short names):
	// the queues of the kinds in the catalogue, say. Unset: the
	// topology's queues.
	JobQueues func() []string
	// Timeout bounds one Queues call; default DefaultInspectTimeout.
	Timeout time.Duration
}

// QueueStats are one queue's figures as the broker sees them.
type QueueStats struct {
	// Queue is the short name ("chat"); Name the declared one.
	Queue string
	Name  string
	// Ready is messages waiting for a consumer; Consumers the consumers
	// attached.
	Ready     int
	Consumers int
	// Unacked, PublishRate and DeliverRate (messages per second) come
	// from the management API only; nil over AMQP.
	Unacked     *int
	PublishRate *float64
	DeliverRate *float64
	// UI is the queue's page in the management UI (no credentials); empty
	// without a management URL.
	UI string
	// Err says why the queue could not be read (ErrQueueNotFound when it
	// is missing); the figures are then zero.
	Err error
}

// Inspector reads queue depths, consumers and rates, from the RabbitMQ
// management HTTP API when one is configured, else with passive queue
// declarations over a short-lived AMQP connection.
type Inspector struct {
	amqpURL   string
	topo      Topology
	jobQueues func() []string
	timeout   time.Duration
	vhost     string

	// mgmt is the management API base (no credentials), nil when unset.
	mgmt       *url.URL
	user, pass string
	client     *http.Client
}

// NewInspector checks opts and returns an Inspector. It does not connect.
func NewInspector(opts InspectorOptions) (*Inspector, error) {
	uri, err := amqp.ParseURI(opts.AMQPURL)
	if err != nil {
		return nil, fmt.Errorf("broker: inspector: parse AMQP URL: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultInspectTimeout
	}
	i := &Inspector{amqpURL: opts.AMQPURL, topo: opts.Topology, jobQueues: opts.JobQueues, timeout: opts.Timeout, vhost: uri.Vhost}
	if opts.ManagementURL == "" {
		return i, nil
	}
	u, err := url.Parse(opts.ManagementURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("broker: inspector: management URL must be http(s)://[user:pass@]host:port")
	}
	if u.User != nil {
		i.user = u.User.Username()
		i.pass, _ = u.User.Password()
	}
	base := *u
	base.User, base.RawQuery, base.Fragment = nil, "", ""
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	i.mgmt = &base
	// No redirects: they would carry the credentials elsewhere.
	i.client = &http.Client{Timeout: opts.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return i, nil
}

// Source is SourceManagement or SourceAMQP.
func (i *Inspector) Source() string {
	if i.mgmt != nil {
		return SourceManagement
	}
	return SourceAMQP
}

// JobQueues are the short names of the job queues, the ones workers
// consume and an operator may pause.
func (i *Inspector) JobQueues() []string {
	if i.jobQueues != nil {
		return i.jobQueues()
	}
	out := make([]string, len(i.topo.Queues))
	for k, q := range i.topo.Queues {
		out[k] = q.Name
	}
	return out
}

// deadQueue is the short name of the dead-letter queue.
const deadQueue = "dead"

// Queues reads every job queue and the dead queue, in topology order. A
// queue that cannot be read has Err set; the others are still reported.
func (i *Inspector) Queues(ctx context.Context) []QueueStats {
	ctx, cancel := context.WithTimeout(ctx, i.timeout)
	defer cancel()
	names := append(i.JobQueues(), deadQueue)
	out := make([]QueueStats, len(names))
	for k, q := range names {
		out[k] = QueueStats{Queue: q, Name: i.topo.QueueName(q), UI: i.uiLink(i.topo.QueueName(q))}
	}
	if i.mgmt != nil {
		for k := range out {
			i.readManagement(ctx, &out[k])
		}
		return out
	}
	i.readAMQP(ctx, out)
	return out
}

// uiLink is the management UI page of the queue named name.
func (i *Inspector) uiLink(name string) string {
	if i.mgmt == nil {
		return ""
	}
	return i.mgmt.String() + "/#/queues/" + url.PathEscape(i.vhost) + "/" + url.PathEscape(name)
}

// managementQueue is the part of GET /api/queues/{vhost}/{name} we use.
// The figures are absent until the broker's first statistics emission for
// a new queue.
type managementQueue struct {
	MessagesReady          int `json:"messages_ready"`
	MessagesUnacknowledged int `json:"messages_unacknowledged"`
	Consumers              int `json:"consumers"`
	MessageStats           struct {
		PublishDetails    struct{ Rate float64 } `json:"publish_details"`
		DeliverGetDetails struct{ Rate float64 } `json:"deliver_get_details"`
	} `json:"message_stats"`
}

func (i *Inspector) readManagement(ctx context.Context, qs *QueueStats) {
	// The vhost "/" must reach the server as %2F: the escaped form is
	// kept as RawPath by url.Parse inside NewRequest.
	target := i.mgmt.String() + "/api/queues/" + url.PathEscape(i.vhost) + "/" + url.PathEscape(qs.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		qs.Err = fmt.Errorf("broker: management request for %s: %w", qs.Name, err)
		return
	}
	req.Header.Set("Accept", "application/json")
	if i.user != "" {
		req.SetBasicAuth(i.user, i.pass)
	}
	resp, err := i.client.Do(req)
	if err != nil {
		qs.Err = fmt.Errorf("broker: management API unreachable: %w", err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManagementBody))
	if err != nil {
		qs.Err = fmt.Errorf("broker: read management answer for %s: %w", qs.Name, err)
		return
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		qs.Err = fmt.Errorf("broker: queue %s: %w", qs.Name, ErrQueueNotFound)
		return
	case resp.StatusCode != http.StatusOK:
		qs.Err = fmt.Errorf("broker: management API answered %s for queue %s", resp.Status, qs.Name)
		return
	}
	var mq managementQueue
	if err := json.Unmarshal(body, &mq); err != nil {
		qs.Err = fmt.Errorf("broker: decode management answer for %s: %w", qs.Name, err)
		return
	}
	qs.Ready, qs.Consumers = mq.MessagesReady, mq.Consumers
	unacked := mq.MessagesUnacknowledged
	pub, del := mq.MessageStats.PublishDetails.Rate, mq.MessageStats.DeliverGetDetails.Rate
	qs.Unacked, qs.PublishRate, qs.DeliverRate = &unacked, &pub, &del
}

// readAMQP fills ready and consumer counts with passive declarations over
// a connection of its own, closed on return.
func (i *Inspector) readAMQP(ctx context.Context, out []QueueStats) {
	conn, err := dial(ctx, i.amqpURL, "hopper inspector")
	if err != nil {
		for k := range out {
			out[k].Err = err
		}
		return
	}
	defer conn.Close()
	// The library's calls take no context: closing the connection ends
	// any call still waiting when ctx does.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	for k := range out {
		qs := &out[k]
		// A passive declaration of a missing queue closes its channel, so
		// each queue gets a fresh one.
		ch, err := conn.Channel()
		if err != nil {
			qs.Err = fmt.Errorf("broker: open inspector channel: %w", err)
			continue
		}
		q, err := ch.QueueDeclarePassive(qs.Name, true, false, false, false, nil)
		if err != nil {
			var aerr *amqp.Error
			if errors.As(err, &aerr) && aerr.Code == amqp.NotFound {
				qs.Err = fmt.Errorf("broker: queue %s: %w", qs.Name, ErrQueueNotFound)
			} else {
				qs.Err = fmt.Errorf("broker: inspect queue %s: %w", qs.Name, err)
			}
			continue
		}
		_ = ch.Close()
		qs.Ready, qs.Consumers = q.Messages, q.Consumers
	}
}
