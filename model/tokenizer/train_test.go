package tokenizer

import (
	"bytes"
	"strings"
	"testing"
)

// trainTexts is a small corpus in the manner of the demo's: words that recur, digits.
var trainTexts = []string{
	"Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?",
	"7+5=12, 12-3=9. Answer: 9",
	"Bob has 12 books. Bob finds 4. How many books does Bob have now?",
	"12+4=16. Answer: 16",
	"What does this print?\nx = 7\nprint(x + 2)",
	"Reverse the list: pens, eggs, cards",
	"Ann is taller than Bob. Who is taller?\n(A) Bob (B) Ann",
}

var specials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// TestTrainBPE: a learnt vocabulary has the size asked, keeps the bytes and the special
// tokens at their ids, spells every digit alone, shortens the corpus, round-trips any
// text (also text it never saw), and is the same for the same corpus.
func TestTrainBPE(t *testing.T) {
	data, err := TrainBPE(trainTexts, 330, specials)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 330 {
		t.Errorf("vocabulary of %d tokens, want 330", tok.VocabSize())
	}
	for i, s := range specials {
		if id, ok := tok.TokenID(s); !ok || id != 256+i || !tok.Special(id) {
			t.Errorf("%s: id %d (%v), want special token %d", s, id, ok, 256+i)
		}
	}
	if got := tok.Encode("<|im_start|>user\nhi<|im_end|>", false); got[0] != 257 || got[len(got)-1] != 258 {
		t.Errorf("special tokens in text: %v", got)
	}
	bytesLen, bpeLen := 0, 0
	for _, text := range trainTexts {
		ids := tok.Encode(text, false)
		bytesLen += len(text)
		bpeLen += len(ids)
		for _, id := range ids {
			if s := tok.Decode([]int{id}, false); strings.ContainsAny(s, "0123456789") && len(strings.TrimSpace(s)) > 1 {
				t.Errorf("token %d %q joins a digit to something", id, s)
			}
		}
	}
	if bpeLen*2 > bytesLen {
		t.Errorf("the corpus is %d tokens, %d bytes: want under half", bpeLen, bytesLen)
	}
	for _, text := range append(trainTexts, "Zoë’s 1,234 naïve crêpes\t\n€", "") {
		if got := tok.Decode(tok.Encode(text, false), false); got != text {
			t.Errorf("round trip of %q gives %q", text, got)
		}
	}
	again, err := TrainBPE(trainTexts, 330, specials)
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("a second training on the same corpus differs (%v)", err)
	}
}

// TestTrainBPEStops: a vocabulary larger than the corpus allows stops when every word is
// one token; one below the bytes and specials is an error.
func TestTrainBPEStops(t *testing.T) {
	data, err := TrainBPE([]string{"ab ab ab"}, 1000, specials)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("ab ab", false); len(got) != 2 {
		t.Errorf("\"ab ab\" is %v, want two tokens (ab, Ġab)", got)
	}
	if tok.VocabSize() >= 1000 {
		t.Errorf("vocabulary of %d, want fewer than asked: nothing is left to merge", tok.VocabSize())
	}
	if _, err := TrainBPE(nil, 200, specials); err == nil || !strings.Contains(err.Error(), "below the 259") {
		t.Errorf("vocabulary 200: %v", err)
	}
}
