package accounts

import (
	"time"

	"github.com/google/uuid"
)

// User roles.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// DefaultPlan is the plan of a user created without one.
const DefaultPlan = "free"

// User is an account that owns jobs and API keys.
type User struct {
	ID        uuid.UUID
	Email     string
	Role      string
	Plan      string
	Active    bool
	CreatedAt time.Time
}

// TableName maps User to its table.
func (User) TableName() string { return "users" }

// APIKey is a stored key. Only its SHA-256 hash is kept; the plaintext is
// shown once, at creation.
type APIKey struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Prefix     string // visible start of the key, to tell keys apart
	Hash       []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TableName maps APIKey to its table.
func (APIKey) TableName() string { return "api_keys" }
