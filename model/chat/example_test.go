package chat_test

import (
	"fmt"
	"log"

	"github.com/t2web/t2web/model/chat"
)

func ExampleTemplate_Render() {
	// A ChatML template; Load reads the same from a tokenizer_config.json.
	const source = "{% for message in messages %}" +
		"{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
		"{% endfor %}" +
		"{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

	tmpl, err := chat.New(source, "", "<|im_end|>")
	if err != nil {
		log.Fatal(err)
	}
	messages, err := chat.ReadMessages([]byte(`[
		{"role": "system", "content": "You are terse."},
		{"role": "user", "content": "What is 2+2?"}
	]`))
	if err != nil {
		log.Fatal(err)
	}
	prompt, err := tmpl.Render(messages, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(prompt)
	// Output:
	// <|im_start|>system
	// You are terse.<|im_end|>
	// <|im_start|>user
	// What is 2+2?<|im_end|>
	// <|im_start|>assistant
}

func ExampleLoad() {
	config := []byte(`{
		"bos_token": "<|begin_of_text|>",
		"eos_token": {"content": "<|eot_id|>", "special": true},
		"chat_template": "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}"
	}`)
	tmpl, err := chat.Load(config)
	if err != nil {
		log.Fatal(err)
	}
	prompt, err := tmpl.Render([]chat.Message{{Role: "user", Content: " Hi "}}, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", prompt)
	// Output:
	// "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
}
