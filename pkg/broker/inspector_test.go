package broker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

// managementURL is the management API the tests use; it must be running.
func managementURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("HOPPER_TEST_RABBITMQ_MANAGEMENT_URL")
	if u == "" {
		u = "http://guest:guest@127.0.0.1:15672"
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u+"/api/overview", nil)
	require.NoError(t, err)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("the RabbitMQ management API at %s is unreachable (enable the rabbitmq_management plugin, or set HOPPER_TEST_RABBITMQ_MANAGEMENT_URL): %v",
			redact(u), err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the RabbitMQ management API at %s answered %s to GET /api/overview (check the credentials)", redact(u), resp.Status)
	}
	return u
}

func redact(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "…" + u[at:]
		}
	}
	return u
}

func statsByQueue(stats []broker.QueueStats) map[string]broker.QueueStats {
	out := map[string]broker.QueueStats{}
	for _, s := range stats {
		out[s.Queue] = s
	}
	return out
}

func TestInspectorAMQP(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	for range 3 {
		require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: "j", Kind: "system.noop"}))
	}
	startConsumer(t, topo, broker.ConsumerOptions{Queues: []string{"chat"}})

	in, err := broker.NewInspector(broker.InspectorOptions{AMQPURL: testkit.AMQPURL(), Topology: topo})
	require.NoError(t, err)
	assert.Equal(t, broker.SourceAMQP, in.Source())
	assert.Equal(t, []string{"chat", "document", "maintenance"}, in.JobQueues())
	stats := in.Queues(t.Context())
	require.Len(t, stats, 4)
	byQ := statsByQueue(stats)
	for _, q := range []string{"chat", "document", "maintenance", "dead"} {
		s := byQ[q]
		require.NoError(t, s.Err, q)
		assert.Equal(t, topo.QueueName(q), s.Name)
		assert.Nil(t, s.Unacked, "AMQP cannot tell unacked")
		assert.Nil(t, s.PublishRate)
		assert.Nil(t, s.DeliverRate)
		assert.Empty(t, s.UI)
	}
	assert.Equal(t, 3, byQ["maintenance"].Ready)
	assert.Equal(t, 0, byQ["maintenance"].Consumers)
	assert.Equal(t, 1, byQ["chat"].Consumers)

	// A queue nobody declared is reported, and does not spoil the others.
	topo.Queues = append(topo.Queues, broker.QueueSpec{Name: "ghost"})
	in, err = broker.NewInspector(broker.InspectorOptions{AMQPURL: testkit.AMQPURL(), Topology: topo})
	require.NoError(t, err)
	byQ = statsByQueue(in.Queues(t.Context()))
	require.Error(t, byQ["ghost"].Err)
	assert.ErrorIs(t, byQ["ghost"].Err, broker.ErrQueueNotFound)
	require.NoError(t, byQ["dead"].Err)
	assert.Equal(t, 3, byQ["maintenance"].Ready)
}

func TestInspectorAMQPUnreachable(t *testing.T) {
	t.Parallel()
	in, err := broker.NewInspector(broker.InspectorOptions{AMQPURL: "amqp://guest:guest@127.0.0.1:1/",
		Topology: testTopology("x", ""), Timeout: time.Second})
	require.NoError(t, err)
	for _, s := range in.Queues(t.Context()) {
		assert.Error(t, s.Err, s.Queue)
	}
}

// TestInspectorManagement reads the real management API: it must be up.
func TestInspectorManagement(t *testing.T) {
	t.Parallel()
	mgmt := managementURL(t)
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	for range 3 {
		require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: "j", Kind: "document.ingest"}))
	}
	in, err := broker.NewInspector(broker.InspectorOptions{AMQPURL: testkit.AMQPURL(), ManagementURL: mgmt, Topology: topo})
	require.NoError(t, err)
	assert.Equal(t, broker.SourceManagement, in.Source())

	// The management API refreshes its figures every few seconds.
	var doc broker.QueueStats
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		byQ := statsByQueue(in.Queues(t.Context()))
		doc = byQ["document"]
		return doc.Err == nil && doc.Ready == 3
	}, "management API to report 3 ready in document (last: %+v)", doc)
	require.NotNil(t, doc.Unacked)
	assert.Equal(t, 0, *doc.Unacked)
	assert.Equal(t, 0, doc.Consumers)
	require.NotNil(t, doc.PublishRate)
	require.NotNil(t, doc.DeliverRate)
	assert.GreaterOrEqual(t, *doc.PublishRate, 0.0)
	assert.Equal(t, strings.Replace(mgmt, "guest:guest@", "", 1)+"/#/queues/%2F/"+topo.QueueName("document"), doc.UI)
	assert.NotContains(t, doc.UI, "guest:", "no credentials in the UI link")
}

// TestInspectorManagementRequests checks what is asked of the management
// API and how its answers are read, against a fake.
func TestInspectorManagementRequests(t *testing.T) {
	t.Parallel()
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		if user, pass, ok := r.BasicAuth(); !ok || user != "ops" || pass != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.EscapedPath(), "/p.chat"):
			_, _ = w.Write([]byte(`{"messages_ready": 7, "messages_unacknowledged": 2, "consumers": 3,
				"message_stats": {"publish_details": {"rate": 1.5}, "deliver_get_details": {"rate": 2.25}}}`))
		case strings.HasSuffix(r.URL.EscapedPath(), "/p.document"):
			_, _ = w.Write([]byte(`{"consumers": 0}`)) // a new queue: no figures yet
		case strings.HasSuffix(r.URL.EscapedPath(), "/p.maintenance"):
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	mgmt := strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1) + "/rmq/"
	in, err := broker.NewInspector(broker.InspectorOptions{AMQPURL: "amqp://u:p@127.0.0.1:5672/my%2Fvhost",
		ManagementURL: mgmt, Topology: testTopology("p", "")})
	require.NoError(t, err)
	byQ := statsByQueue(in.Queues(context.Background()))

	tests := []struct {
		queue            string
		ready, consumers int
		unacked          *int
		pub, del         *float64
		err              string
	}{
		{queue: "chat", ready: 7, consumers: 3, unacked: ptr(2), pub: ptr(1.5), del: ptr(2.25)},
		{queue: "document", unacked: ptr(0), pub: ptr(0.0), del: ptr(0.0)},
		{queue: "maintenance", err: broker.ErrQueueNotFound.Error()},
		{queue: "dead", err: "500"},
	}
	for _, tc := range tests {
		s := byQ[tc.queue]
		if tc.err != "" {
			require.Error(t, s.Err, tc.queue)
			assert.Contains(t, s.Err.Error(), tc.err, tc.queue)
		} else {
			require.NoError(t, s.Err, tc.queue)
		}
		assert.Equal(t, tc.ready, s.Ready, tc.queue)
		assert.Equal(t, tc.consumers, s.Consumers, tc.queue)
		assert.Equal(t, tc.unacked, s.Unacked, tc.queue)
		assert.Equal(t, tc.pub, s.PublishRate, tc.queue)
		assert.Equal(t, tc.del, s.DeliverRate, tc.queue)
		assert.Equal(t, srv.URL+"/rmq/#/queues/my%2Fvhost/p."+tc.queue, s.UI, tc.queue)
	}
	assert.Equal(t, []string{"/rmq/api/queues/my%2Fvhost/p.chat", "/rmq/api/queues/my%2Fvhost/p.document",
		"/rmq/api/queues/my%2Fvhost/p.maintenance", "/rmq/api/queues/my%2Fvhost/p.dead"}, paths)
}

func TestNewInspectorValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, amqpURL, mgmt string
		ok                  bool
	}{
		{"amqp only", "amqp://guest:guest@127.0.0.1:5672/", "", true},
		{"management", "amqp://127.0.0.1/", "https://u:p@rabbit.example:15671", true},
		{"bad amqp url", "http://127.0.0.1/", "", false},
		{"management not http", "amqp://127.0.0.1/", "ftp://rabbit:15672", false},
		{"management without host", "amqp://127.0.0.1/", "http://", false},
	}
	for _, tc := range tests {
		_, err := broker.NewInspector(broker.InspectorOptions{AMQPURL: tc.amqpURL, ManagementURL: tc.mgmt, Topology: testTopology("x", "")})
		assert.Equal(t, tc.ok, err == nil, "%s: %v", tc.name, err)
	}
}

func ptr[T any](v T) *T { return &v }
