// Package app runs the chat-worker service: it consumes the queues named by
// HOPPER_QUEUES and runs chat.message (LLM answers, grounded on the user's
// documents), qa.ask (retrieval with citations), chat.search (SearxNG),
// the other chat.* kinds, and system.*.
package app

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/worker"
)

// Run serves the chat-worker until ctx ends, draining in-flight jobs.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	llm, err := newLLM(cfg.Providers.LLM, log)
	if err != nil {
		return err
	}
	search := newSearcher(cfg.Providers.SearxNGURL, log)
	qemb, err := newQuestionEmbedder(cfg.Providers.Embeddings, log)
	if err != nil {
		return err
	}
	register := func(p *worker.Processor, st *store.Store) {
		docs := retriever{store: st, embed: qemb, log: log}
		qa := &answerer{store: st, llm: llm, docs: docs}
		p.Handle(jobs.KindQAAsk, qa.handle)
		p.Handle(jobs.KindChatImage, newImageGenerator(cfg.Providers.Images, st, log).handle)
		p.Handle(jobs.KindChatTranscribe, newTranscriber(cfg.Providers.STT, st, log).handle)
		p.Handle(jobs.KindChatMessage, (&chatter{docs: docs, llm: llm}).handle)
		p.Handle(jobs.KindChatSearch, search.handle)
	}
	return worker.RunService(ctx, worker.Service{Config: cfg, Logger: log, Register: register})
}

// newLLM builds the chat client; unset, answers are extractive (nil, nil).
// A set but malformed configuration stops the service at start.
func newLLM(e config.Endpoint, log *zap.Logger) (*providers.ChatClient, error) {
	if e.URL == "" {
		log.Info("no LLM configured (HOPPER_LLM_URL): chat.message and qa.ask answer extractively")
		return nil, nil
	}
	c, err := providers.NewChatClient(providers.ChatConfig{URL: e.URL, APIKey: e.APIKey, Model: e.Model})
	if err != nil {
		return nil, fmt.Errorf("HOPPER_LLM_*: %w", err)
	}
	return c, nil
}

// newSearcher builds the SearxNG client; unset, chat.search jobs fail
// naming the setting.
func newSearcher(url string, log *zap.Logger) *searcher {
	c, err := providers.NewSearchClient(providers.SearxNGConfig{URL: url})
	if err != nil {
		if url != "" {
			log.Warn("HOPPER_SEARXNG_URL is unusable: chat.search jobs will fail", zap.Error(err))
		}
		return &searcher{err: err}
	}
	return &searcher{client: c}
}
