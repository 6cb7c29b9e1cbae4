package tasks

import (
	"math/rand/v2"
	"strings"
)

// A scale orders people by one quality.
type scale struct{ more, less, most, least string }

var (
	scales = []scale{
		{"taller", "shorter", "tallest", "shortest"},
		{"older", "younger", "oldest", "youngest"},
		{"faster", "slower", "fastest", "slowest"},
		{"heavier", "lighter", "heaviest", "lightest"},
	}
	shortNames = []string{"Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gil", "Hal", "Ida", "Jo", "Kay", "Lou", "Mia", "Ned", "Oz", "Pat"}
)

// reasoningTask: three people, two comparisons, who is first or last.
//
//	Bo is shorter than Ann. Bo is taller than Cy. Who is shortest?
//	(A) Bo (B) Cy (C) Ann
func reasoningTask() Task {
	return genTask{name: Reasoning, domain: "reasoning", extract: letters('C'), gen: func(rng *rand.Rand) (string, string, string) {
		return ordering(rng, 3)
	}}
}

// reasoningHardTask: four people, three comparisons, who is first, second, third or
// last; four options.
func reasoningHardTask() Task {
	return genTask{name: ReasoningHard, domain: "reasoning", unseen: true, extract: letters('D'), gen: func(rng *rand.Rand) (string, string, string) {
		return ordering(rng, 4)
	}}
}

// letters returns the extractor of option letters A to last.
func letters(last byte) func(string) (string, bool) {
	return func(answer string) (string, bool) { return ExtractLetter(answer, last) }
}

// ordering draws k people in order on a scale, states the k−1 comparisons of neighbours
// in random order and direction, and asks who is first or last (with four people, second
// or third too) among the k people as lettered options in random order. The solution
// lists the people in order and names the one asked for: "From tallest to shortest: Ann,
// Bo, Cy. Shortest: Cy. Answer: (C)".
func ordering(rng *rand.Rand, k int) (string, string, string) {
	for {
		sc := scales[rng.IntN(len(scales))]
		perm := rng.Perm(len(shortNames))
		order := make([]string, k) // order[0] has the most of the quality
		for i := range order {
			order[i] = shortNames[perm[i]]
		}
		facts := make([]string, k-1)
		for i := range facts {
			if rng.IntN(2) == 0 {
				facts[i] = order[i] + " is " + sc.more + " than " + order[i+1] + "."
			} else {
				facts[i] = order[i+1] + " is " + sc.less + " than " + order[i] + "."
			}
		}
		rng.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
		questions := []struct {
			text string
			rank int
		}{{sc.most, 0}, {sc.least, k - 1}, {"second " + sc.most, 1}, {"second " + sc.least, k - 2}}
		q := questions[rng.IntN(2*(k-2))]
		var b strings.Builder
		b.WriteString(strings.Join(facts, " ") + " Who is " + q.text + "?\n")
		answer := ""
		for i, j := range rng.Perm(k) {
			letter := string(rune('A' + i))
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("(" + letter + ") " + order[j])
			if j == q.rank {
				answer = letter
			}
		}
		if b.Len() <= maxInput {
			sol := "From " + sc.most + " to " + sc.least + ": " + strings.Join(order, ", ") + ". " +
				strings.ToUpper(q.text[:1]) + q.text[1:] + ": " + order[q.rank] + ". Answer: (" + answer + ")"
			return b.String(), answer, sol
		}
	}
}
