package tasks

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The held-out families: question forms in the suite's world that neither the base
// model nor any expert is trained on, for few-shot adaptation (CEM over the experts)
// to be tried on things the demo never saw:
//
//	family      question                                                          answer
//	give        "Ann has 9 pens and Bob has 4. Ann gives Bob 3. How many … Bob …?"  worked
//	totals      "Ann has 3 pens, Bob has 5 and Cal has 2. How many … together?"    worked
//	lost-found  "Ann had 12 coins. She lost 5 and later found 3. How many …?"      worked
//
// They belong to no expert's domain; they are word problems, so a person would call
// them math.

// HeldOut returns the held-out families.
func HeldOut() []Task {
	return []Task{giveTask(), totalsTask(), lostFoundTask()}
}

// Names of the held-out families.
const (
	Give      = "give"
	Totals    = "totals"
	LostFound = "lost-found"
)

// giveTask: "Ann has 9 pens and Bob has 4. Ann gives Bob 3. How many pens does Bob have
// now?" Solution: "4+3=7. Answer: 7" (or the giver's "9-3=6. Answer: 6").
func giveTask() Task {
	return genTask{name: Give, domain: "math", unseen: true, extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		p := rng.Perm(len(people))
		a, b, thing := people[p[0]], people[p[1]], pick(rng, things)
		x, y := 3+rng.IntN(25), 1+rng.IntN(25)
		d := 1 + rng.IntN(x-1)
		who, work, r := b, equation(y, '+', d), y+d
		if rng.IntN(2) == 0 {
			who, work, r = a, equation(x, '-', d), x-d
		}
		q := fmt.Sprintf("%s has %d %s and %s has %d. %s gives %s %d. How many %s does %s have now?",
			a, x, thing, b, y, a, b, d, thing, who)
		return q, strconv.Itoa(r), worked([]string{work}, r)
	}}
}

// totalsTask: three or four people's counts, then their total: "Ann has 3 pens, Bob has 5
// and Cal has 2. How many pens do they have together?" Solution: "3+5=8, 8+2=10.
// Answer: 10".
func totalsTask() Task {
	return genTask{name: Totals, domain: "math", unseen: true, extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		for {
			p := rng.Perm(len(people))
			thing := pick(rng, things)
			n := 3 + rng.IntN(2)
			var parts, work []string
			total := 0
			for i := range n {
				c := 1 + rng.IntN(20)
				switch {
				case i == 0:
					parts = append(parts, fmt.Sprintf("%s has %d %s", people[p[i]], c, thing))
				default:
					parts = append(parts, fmt.Sprintf("%s has %d", people[p[i]], c))
					work = append(work, equation(total, '+', c))
				}
				total += c
			}
			q := strings.Join(parts[:n-1], ", ") + " and " + parts[n-1] + ". How many " + thing + " do they have together?"
			if len(q) <= maxInput {
				return q, strconv.Itoa(total), worked(work, total)
			}
		}
	}}
}

// lostFoundTask: "Ann had 12 coins. She lost 5 of them and later found 3. How many coins
// does she have now?" Solution: "12-5=7, 7+3=10. Answer: 10".
func lostFoundTask() Task {
	return genTask{name: LostFound, domain: "math", unseen: true, extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		name, thing := pick(rng, people), pick(rng, things)
		pron := pronoun(name)
		x := 5 + rng.IntN(30)
		l := 1 + rng.IntN(x-1)
		f := 1 + rng.IntN(15)
		r := x - l + f
		q := fmt.Sprintf("%s had %d %s. %s lost %d of them and later found %d. How many %s does %s have now?",
			name, x, thing, pron, l, f, thing, strings.ToLower(pron))
		return q, strconv.Itoa(r), worked([]string{equation(x, '-', l), equation(x-l, '+', f)}, r)
	}}
}
