// Package app runs the chat-worker service: it consumes the queues named by
// HOPPER_QUEUES and runs chat.message (LLM answers, grounded on the user's
// documents), qa.ask (retrieval with citations), chat.search (SearxNG),
// the other chat.* kinds, and system.*.
package app

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store"
)

// Run serves the chat-worker until ctx ends, draining in-flight jobs.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	settings, err := product.LoadSettings(os.Getenv)
	if err != nil {
		return err
	}
	log.Info("product settings", settings.LogFields()...)
	// Every provider call waits for its provider's rate limit (HOPPER_*_RPM,
	// _TPM), shared with the other replicas through Postgres.
	lim := ratelimit.New(log)
	llm, err := newLLM(settings.Providers.LLM, lim, log)
	if err != nil {
		return err
	}
	search := newSearcher(settings.Providers.SearxNGURL, lim.Provider("searxng", settings.Providers.SearxNGURL,
		ratelimit.Limit{RequestsPerMinute: settings.Providers.SearxNGRPM}), log)
	qemb, err := newQuestionEmbedder(settings.Providers.Embeddings, lim, log)
	if err != nil {
		return err
	}
	// The product's own data (documents, chunks, media) lives in Hopper's
	// database; the runtime keeps its own connections for jobs.
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.Concurrency + 2, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	lim.Bind(st)
	docs := retriever{store: st, embed: qemb, log: log}
	handlers := map[string]hopper.HandlerFunc{
		product.KindQAAsk:          (&answerer{llm: llm, docs: docs}).handle,
		product.KindChatImage:      newImageGenerator(settings.Providers.Images, lim, st, log),
		product.KindChatTranscribe: newTranscriber(settings.Providers.STT, lim, st, log),
		product.KindChatMessage:    (&chatter{docs: docs, llm: llm}).handle,
		product.KindChatSearch:     search,
	}
	w, err := product.NewWorker(cfg, log, product.ChatWorker, handlers)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// newLLM builds the chat client; unset, answers are extractive (nil, nil).
// A set but malformed configuration stops the service at start.
func newLLM(e product.Endpoint, lim *ratelimit.Limiter, log *zap.Logger) (*providers.ChatClient, error) {
	if e.URL == "" {
		log.Info("no LLM configured (HOPPER_LLM_URL): chat.message and qa.ask answer extractively")
		return nil, nil
	}
	c, err := providers.NewChatClient(providerConfig(lim, "llm", e))
	if err != nil {
		return nil, fmt.Errorf("HOPPER_LLM_*: %w", err)
	}
	return c, nil
}

// newSearcher builds chat.search's handler and its SearxNG client; unset,
// chat.search jobs fail naming the setting.
func newSearcher(url string, rl *ratelimit.Provider, log *zap.Logger) hopper.HandlerFunc {
	c, err := providers.NewSearchClient(providers.SearxNGConfig{URL: url, HTTPClient: rl.HTTPClient()})
	if err != nil {
		if url != "" {
			log.Warn("HOPPER_SEARXNG_URL is unusable: chat.search jobs will fail", zap.Error(err))
		}
		return unavailable(err)
	}
	return (&searcher{client: c}).handle
}

// providerConfig is the client configuration of endpoint e, its requests
// (and, for the LLM and embeddings, its tokens) paced by lim as provider
// name.
func providerConfig(lim *ratelimit.Limiter, name string, e product.Endpoint) providers.Config {
	rl := lim.Provider(name, e.URL, ratelimit.Limit{RequestsPerMinute: e.RPM, TokensPerMinute: e.TPM})
	return providers.Config{URL: e.URL, APIKey: e.APIKey, Model: e.Model,
		HTTPClient: rl.HTTPClient(), OnUsage: rl.ChargeUsage}
}

// unavailable is the handler of a kind whose provider client could not be
// built at start: every job fails at once, permanently, with err, which
// names the setting.
func unavailable(err error) hopper.HandlerFunc {
	return func(context.Context, *hopper.RawJob) (any, error) {
		return nil, hopper.Permanent(err)
	}
}

// mediaUnavailable is unavailable for chat.image and chat.transcribe: it
// says at start why the kind's jobs will fail, and they fail with err
// prefixed by the kind.
func mediaUnavailable(log *zap.Logger, kind string, err error) hopper.HandlerFunc {
	if setting, ok := providers.MissingSetting(err); ok {
		log.Info(kind+" jobs will fail until the provider is configured", zap.String("setting", setting))
	} else {
		log.Error(kind+" provider settings are unusable: its jobs will fail", zap.Error(err))
	}
	return unavailable(fmt.Errorf("%s: %w", kind, err))
}
