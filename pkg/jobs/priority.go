package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Priority is a RabbitMQ message priority, 0 (lowest) to MaxPriority.
// Queues are declared with x-max-priority = MaxPriority: RabbitMQ advises
// few levels, each level costs an internal queue.
type Priority uint8

// Named priorities accepted by the API.
const (
	PriorityLow    Priority = 1
	PriorityNormal Priority = 3
	PriorityHigh   Priority = 5
	MaxPriority    Priority = 5
)

var priorityNames = map[string]Priority{
	"low":    PriorityLow,
	"normal": PriorityNormal,
	"high":   PriorityHigh,
}

// String names the priority when it has a name, else its number.
func (p Priority) String() string {
	for name, v := range priorityNames {
		if v == p {
			return name
		}
	}
	return strconv.Itoa(int(p))
}

// Urgent reports whether work of this priority must not queue behind a
// batch of lower work being written (the store's group commit).
func (p Priority) Urgent() bool {
	return p >= PriorityHigh
}

// ParsePriority accepts "low", "normal", "high" or an integer 0–5, given as
// a JSON string or number.
func ParsePriority(raw json.RawMessage) (Priority, error) {
	raw = bytes.TrimSpace(raw)
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		if p, ok := priorityNames[name]; ok {
			return p, nil
		}
		n, err := strconv.Atoi(name)
		if err != nil {
			return 0, fmt.Errorf("priority %q: want low, normal, high or an integer 0-%d", name, MaxPriority)
		}
		return checkPriority(n)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("priority must be low, normal, high or an integer 0-%d", MaxPriority)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("priority %s: want an integer 0-%d", n, MaxPriority)
	}
	return checkPriority(int(i))
}

func checkPriority(n int) (Priority, error) {
	if n < 0 || n > int(MaxPriority) {
		return 0, fmt.Errorf("priority %d out of range 0-%d", n, MaxPriority)
	}
	return Priority(n), nil
}
