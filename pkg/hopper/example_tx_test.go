package hopper_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // registers database/sql driver "pgx"

	"github.com/hopperq/hopper/pkg/hopper"
)

// These examples need Hopper's Postgres (make run), so they are compiled,
// not run. The service's database URL names Hopper's schema in its
// search_path if Hopper does not use the default one.

// A service enqueues the job that sends an order's receipt in the
// transaction that stores the order: if the order is rolled back, no
// receipt goes out, and if it commits, the job is published at once.
func ExampleEnqueueTx() {
	db, err := sql.Open("pgx", os.Getenv("HOPPER_DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	owner := uuid.MustParse(os.Getenv("HOPPER_OWNER_ID")) // the Hopper user the jobs belong to

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit

	var orderID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO shop.orders (total_cents) VALUES ($1) RETURNING id`, 4200).Scan(&orderID); err != nil {
		log.Fatal(err)
	}
	res, err := hopper.EnqueueTx(ctx, tx, owner, "acme.receipt", map[string]any{"order_id": orderID},
		hopper.WithIdempotencyKey(fmt.Sprintf("receipt-%d", orderID)))
	if err != nil {
		log.Fatal(err) // a *hopper.ValidationError names the field the kind's schema refused
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.ID, res.State)
}

func ExampleEnqueueManyTx() {
	db, err := sql.Open("pgx", os.Getenv("HOPPER_DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	owner := uuid.MustParse(os.Getenv("HOPPER_OWNER_ID"))

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	items := []hopper.BatchItem{
		{Kind: "acme.thumbnail", Payload: Thumbnail{URL: "https://example.com/a.png", Width: 320}},
		{Kind: "acme.thumbnail", Payload: Thumbnail{URL: "https://example.com/b.png", Width: 320},
			Options: []hopper.EnqueueOption{hopper.WithPriorityName("high")}},
	}
	results, err := hopper.EnqueueManyTx(ctx, tx, owner, items) // one statement, all or none
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.ID, r.State)
	}
}
