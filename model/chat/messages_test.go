package chat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestReadMessages(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []Message
		err   string // in the error; "" when ReadMessages succeeds
	}{
		{"array", `[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]`,
			[]Message{{"system", "S"}, {"user", "U"}}, ""},
		{"object with messages", ` {"model": "x", "messages": [{"content": "U", "role": "user"}]} `,
			[]Message{{"user", "U"}}, ""},
		{"empty content", `[{"role": "assistant", "content": ""}]`, []Message{{"assistant", ""}}, ""},
		{"unicode and escapes", `[{"role": "user", "content": "\u3053\n🙂"}]`, []Message{{"user", "こ\n🙂"}}, ""},

		{"empty input", ``, nil, "empty input"},
		{"not JSON", `[{"role": "user"`, nil, "chat: messages: "},
		{"a string", `"hello"`, nil, "want a JSON array"},
		{"empty array", `[]`, nil, "no messages"},
		{"object without messages", `{"msgs": []}`, nil, `no "messages" field`},
		{"messages not an array", `{"messages": {"role": "user"}}`, nil, `"messages" is not an array`},
		{"message not an object", `[{"role": "user", "content": "a"}, "b"]`, nil, "message 1: not an object"},
		{"null message", `[null]`, nil, "message 0: not an object"},
		{"missing role", `[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"content": "c"}]`, nil, `message 2: missing "role"`},
		{"role not a string", `[{"role": 1, "content": "a"}]`, nil, `message 0: "role" is not a string`},
		{"role null", `[{"role": null, "content": "a"}]`, nil, `message 0: "role" is not a string`},
		{"role empty", `[{"role": "", "content": "a"}]`, nil, `message 0: "role" is empty`},
		{"missing content", `[{"role": "user", "content": "a"}, {"role": "assistant"}]`, nil, `message 1: assistant message: missing "content"`},
		{"content null", `[{"role": "user", "content": null}]`, nil, `message 0: user message: "content" is not a string`},
		{"content parts", `[{"role": "user", "content": [{"type": "text", "text": "a"}]}]`, nil, `message 0: user message: "content" is not a string`},
		{"unknown field", `[{"role": "assistant", "content": "", "tool_calls": []}]`, nil, `message 0: unsupported field "tool_calls"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadMessages([]byte(tc.input))
			if tc.err != "" {
				if err == nil {
					t.Fatalf("got %v, want an error containing %q", got, tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %q does not contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzReadMessages checks that what ReadMessages accepts has roles and survives a round
// trip through encoding/json.
func FuzzReadMessages(f *testing.F) {
	f.Add([]byte(`[{"role": "user", "content": "hi"}]`))
	f.Add([]byte(`{"messages": [{"role": "system", "content": ""}, {"role": "user", "content": "\u00e9"}]}`))
	f.Add([]byte(`[{"role": "user"}]`))
	f.Add([]byte(`[{"role": "user", "content": "a", "name": "x"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		messages, err := ReadMessages(data)
		if err != nil {
			if messages != nil {
				t.Fatalf("got messages %v with error %v", messages, err)
			}
			return
		}
		if len(messages) == 0 {
			t.Fatal("no messages and no error")
		}
		for i, m := range messages {
			if m.Role == "" {
				t.Fatalf("message %d has an empty role", i)
			}
		}
		again, err := json.Marshal(messages)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ReadMessages(again)
		if err != nil {
			t.Fatalf("re-reading %s: %v", again, err)
		}
		if !reflect.DeepEqual(back, messages) {
			t.Fatalf("round trip: got %v, want %v", back, messages)
		}
	})
}
