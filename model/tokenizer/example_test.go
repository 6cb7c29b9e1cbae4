package tokenizer

import (
	"fmt"
	"os"
)

func ExampleLoad() {
	data, err := os.ReadFile("tokenizer.json") // from a Hugging Face checkpoint folder
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := Load(data)
	if err != nil {
		fmt.Println(err) // e.g. tokenizer.json: model.type "WordPiece" is not supported (want BPE)
		return
	}
	ids := tok.Encode("Hello world", true) // Llama 3: [128000 9906 1917]
	fmt.Println(ids, tok.Decode(ids, true))
}

func ExampleTokenizer_Encode() {
	tok, _ := Load(spJSON(llama2Layout)) // a small Llama 2-style tokenizer.json
	ids := tok.Encode("hello world", true)
	var tokens []string
	for _, id := range ids {
		tokens = append(tokens, tok.Token(id))
	}
	fmt.Println(ids)
	fmt.Printf("%q\n", tokens)
	fmt.Printf("%q\n", tok.Decode(ids, true))
	// Output:
	// [1 271 276]
	// ["<s>" "▁hello" "▁world"]
	// "hello world"
}

func ExampleDecoder() {
	tok, _ := Load(spJSON(llama2Layout))
	ids := tok.Encode("hi 🙂!", false) // 🙂 is four byte tokens <0xF0> <0x9F> <0x99> <0x82>
	d := tok.NewDecoder(true)
	for _, id := range ids {
		fmt.Printf("%q ", d.Add(id))
	}
	fmt.Printf("%q\n", d.Flush())
	// Output: "h" "i" " " "" "" "" "🙂" "!" ""
}
