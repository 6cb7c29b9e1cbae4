package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Message is one turn of a conversation. Role is what the template switches on: "system",
// "user", "assistant", or whatever else the template accepts.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ReadMessages parses a conversation: a JSON array of {"role", "content"} objects, or an
// object whose "messages" field is such an array (as in an OpenAI-style request; its other
// fields are ignored). Each message needs a non-empty string role and a string content;
// a message with any other field (tool_calls, name, ...) is an error, since the template
// would be rendered without it.
func ReadMessages(data []byte) ([]Message, error) {
	data = bytes.TrimSpace(data)
	var raws []json.RawMessage
	switch {
	case len(data) == 0:
		return nil, errors.New("chat: messages: empty input, want a JSON array of messages")
	case data[0] == '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, fmt.Errorf("chat: messages: %w", err)
		}
	case data[0] == '{':
		var wrapped struct {
			Messages json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(data, &wrapped); err != nil {
			return nil, fmt.Errorf("chat: messages: %w", err)
		}
		if isNull(wrapped.Messages) {
			return nil, errors.New(`chat: messages: object has no "messages" field`)
		}
		if err := json.Unmarshal(wrapped.Messages, &raws); err != nil {
			return nil, errors.New(`chat: messages: "messages" is not an array`)
		}
	default:
		return nil, errors.New(`chat: messages: want a JSON array of messages or an object {"messages": [...]}`)
	}
	if len(raws) == 0 {
		return nil, errors.New("chat: messages: the conversation has no messages")
	}

	messages := make([]Message, len(raws))
	for i, raw := range raws {
		m, err := readMessage(raw)
		if err != nil {
			return nil, fmt.Errorf("chat: messages: message %d: %w", i, err)
		}
		messages[i] = m
	}
	return messages, nil
}

// readMessage parses one {"role", "content"} object.
func readMessage(raw json.RawMessage) (Message, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Message{}, errors.New(`not an object {"role": ..., "content": ...}`)
	}
	var unknown []string
	for k := range fields {
		if k != "role" && k != "content" {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Message{}, fmt.Errorf("unsupported field %s (only role and content)", unknown[0])
	}

	var m Message
	role, ok := fields["role"]
	if !ok {
		return Message{}, errors.New(`missing "role"`)
	}
	if err := json.Unmarshal(role, &m.Role); err != nil || isNull(role) {
		return Message{}, errors.New(`"role" is not a string`)
	}
	if m.Role == "" {
		return Message{}, errors.New(`"role" is empty`)
	}
	content, ok := fields["content"]
	if !ok {
		return Message{}, fmt.Errorf(`%s message: missing "content"`, m.Role)
	}
	if err := json.Unmarshal(content, &m.Content); err != nil || isNull(content) {
		return Message{}, fmt.Errorf(`%s message: "content" is not a string`, m.Role)
	}
	return m, nil
}
