package store_test

import (
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

func TestOpenFailsClearly(t *testing.T) {
	t.Parallel()
	_, err := store.Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", store.Options{})
	require.ErrorContains(t, err, "connect to postgres")
}

func TestSearchPathSelectsSchema(t *testing.T) {
	t.Parallel()
	dsn := testkit.DatabaseURL(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	s := storetest.Open(t, dsn)
	require.NoError(t, s.Ping(t.Context()))

	var schema string
	require.NoError(t, s.Gorm().WithContext(t.Context()).Raw("SELECT current_schema()").Scan(&schema).Error)
	require.Equal(t, u.Query().Get("search_path"), schema)

	require.NoError(t, s.Migrate(t.Context()))
	var tables []string
	require.NoError(t, s.Gorm().WithContext(t.Context()).Raw(
		"SELECT tablename FROM pg_tables WHERE schemaname = ? ORDER BY tablename", schema).Scan(&tables).Error)
	require.Equal(t, []string{"api_keys", "document_blobs", "document_chunks", "documents", "goose_db_version", "job_artifacts", "job_events", "job_output", "jobs", "kinds", "mail_sends", "plans", "provider_limits", "push_kind_secrets", "push_kinds", "push_settings", "queue_pauses", "quota_charges", "schedules", "ui_sessions", "upload_parts", "users", "webhook_secrets", "worker_tokens", "workers", "workflow_steps", "workflows"}, tables)
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, testkit.DatabaseURL(t))
	v, err := s.MigrationStatus(t.Context())
	require.NoError(t, err)
	require.Zero(t, v)

	for range 2 {
		require.NoError(t, s.Migrate(t.Context()))
		v, err = s.MigrationStatus(t.Context())
		require.NoError(t, err)
		require.EqualValues(t, latestMigration(t), v)
	}
}

// Replicas of a service migrate one schema at once; tests migrate their
// own schemas side by side. Neither may fail or double-apply.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	shared := testkit.DatabaseURL(t)
	dsns := []string{shared, shared, shared, testkit.DatabaseURL(t), testkit.DatabaseURL(t)}
	stores := make([]*store.Store, len(dsns))
	for i, dsn := range dsns {
		stores[i] = storetest.Open(t, dsn)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, s := range stores {
		require.NoError(t, errs[i], "store %d", i)
		v, err := s.MigrationStatus(t.Context())
		require.NoError(t, err)
		require.EqualValues(t, latestMigration(t), v, "store %d", i)
		// Each schema has its own, working tables.
		_, err = s.CreateUser(t.Context(), testkit.UniqueName("m")+"@example.com", accounts.RoleUser, "")
		require.NoError(t, err)
	}
}
