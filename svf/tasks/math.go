package tasks

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxInput is the longest question of the six question tasks, in bytes.
const maxInput = 128

var (
	people = []string{"Ann", "Bob", "Cal", "Dan", "Eve", "Fay", "Gus", "Ivy", "Jon", "Kim", "Lea", "Max", "Ned", "Pam", "Sam", "Tom", "Zoe"}
	things = []string{"apples", "pens", "books", "cards", "coins", "eggs", "shells", "stamps", "marbles", "cookies"}
	gains  = []string{"buys %d", "finds %d", "wins %d", "gets %d more"}
	losses = []string{"loses %d", "sells %d", "gives away %d", "uses %d"}
)

// mathTask: "Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?"
// Two or three additions and subtractions of numbers up to 20, never below zero, or the
// total of two people where one has a few more or fewer than the other.
func mathTask() Task {
	return genTask{name: Math, domain: "math", extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		if rng.IntN(3) == 0 {
			return mathPair(rng)
		}
		return mathSteps(rng, 2+rng.IntN(2), 20, 10, false)
	}}
}

// mathHardTask: three or four steps with numbers up to 60, packs ("buys 3 packs of 6") and
// doubling, or the total of three people, the third having two or three times the second.
func mathHardTask() Task {
	return genTask{name: MathHard, domain: "math", unseen: true, extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		if rng.IntN(3) == 0 {
			return mathTrio(rng)
		}
		return mathSteps(rng, 3+rng.IntN(2), 60, 30, true)
	}}
}

// mathSteps tells of one person whose count of things changes n times: gains and losses
// of 1…maxStep, and with hard also packs and doubling. It draws again until the question
// fits maxInput. The solution writes one equation per step: "7+5=12, 12-3=9".
func mathSteps(rng *rand.Rand, n, maxStart, maxStep int, hard bool) (string, string, string) {
	for {
		name, thing := pick(rng, people), pick(rng, things)
		start := 2 + rng.IntN(maxStart-1)
		total := start
		steps := make([]string, n)
		var work []string
		for i := range steps {
			kind := rng.IntN(2)
			if hard {
				kind = rng.IntN(5) // gain, loss, gain, packs, doubling
			}
			d := 1 + rng.IntN(maxStep)
			if kind == 1 && d > total {
				kind = 0
			}
			switch kind {
			case 1:
				steps[i] = fmt.Sprintf(pick(rng, losses), d)
				work = append(work, equation(total, '-', d))
				total -= d
			case 3:
				packs, per := 2+rng.IntN(4), 2+rng.IntN(8)
				steps[i] = fmt.Sprintf("buys %d packs of %d", packs, per)
				work = append(work, equation(packs, '*', per), equation(total, '+', packs*per))
				total += packs * per
			case 4:
				steps[i] = "doubles them"
				work = append(work, equation(total, '*', 2))
				total *= 2
			default:
				steps[i] = fmt.Sprintf(pick(rng, gains), d)
				work = append(work, equation(total, '+', d))
				total += d
			}
		}
		q := fmt.Sprintf("%s has %d %s. %s %s. How many %s does %s have now?",
			name, start, thing, name, series(steps), thing, name)
		if len(q) <= maxInput {
			return q, strconv.Itoa(total), worked(work, total)
		}
	}
}

// mathPair: "Ann has 12 pens. Bob has 5 fewer than Ann. How many pens do they have in
// total?" Solution: "12-5=7, 12+7=19. Answer: 19".
func mathPair(rng *rand.Rand) (string, string, string) {
	a, b, thing := pick(rng, people), pick(rng, people), pick(rng, things)
	for b == a {
		b = pick(rng, people)
	}
	x, d := 2+rng.IntN(19), 1+rng.IntN(10)
	y, rel, op := x+d, "more", byte('+')
	if d < x && rng.IntN(2) == 0 {
		y, rel, op = x-d, "fewer", '-'
	}
	q := fmt.Sprintf("%s has %d %s. %s has %d %s than %s. How many %s do they have in total?",
		a, x, thing, b, d, rel, a, thing)
	return q, strconv.Itoa(x + y), worked([]string{equation(x, op, d), equation(x, '+', y)}, x+y)
}

// mathTrio: "Ann has 34 cards. Bob has 12 fewer than Ann. Cal has twice as many as Bob.
// How many cards do they have in total?" Solution: "34-12=22, 22*2=44, 34+22=56,
// 56+44=100. Answer: 100".
func mathTrio(rng *rand.Rand) (string, string, string) {
	for {
		p := rng.Perm(len(people))
		a, b, c, thing := people[p[0]], people[p[1]], people[p[2]], pick(rng, things)
		x, d := 10+rng.IntN(31), 2+rng.IntN(19)
		y, rel, op := x+d, "more", byte('+')
		if d < x && rng.IntN(2) == 0 {
			y, rel, op = x-d, "fewer", '-'
		}
		k, times := 2, "twice"
		if rng.IntN(2) == 0 {
			k, times = 3, "three times"
		}
		q := fmt.Sprintf("%s has %d %s. %s has %d %s than %s. %s has %s as many as %s. How many %s do they have in total?",
			a, x, thing, b, d, rel, a, c, times, b, thing)
		if len(q) <= maxInput {
			work := []string{equation(x, op, d), equation(y, '*', k), equation(x, '+', y), equation(x+y, '+', k*y)}
			return q, strconv.Itoa(x + y + k*y), worked(work, x+y+k*y)
		}
	}
}

// equation writes "a op b=result" for op + - or *.
func equation(a int, op byte, b int) string {
	r := a + b
	switch op {
	case '-':
		r = a - b
	case '*':
		r = a * b
	}
	return fmt.Sprintf("%d%c%d=%d", a, op, b, r)
}

// worked joins the steps of a solution and states its answer: "7+5=12, 12-3=9. Answer: 9".
func worked(steps []string, answer int) string {
	return strings.Join(steps, ", ") + ". Answer: " + strconv.Itoa(answer)
}

// series joins clauses as "a, b, then c".
func series(clauses []string) string {
	if len(clauses) == 1 {
		return clauses[0]
	}
	return strings.Join(clauses[:len(clauses)-1], ", ") + ", then " + clauses[len(clauses)-1]
}

func pick(rng *rand.Rand, words []string) string { return words[rng.IntN(len(words))] }
