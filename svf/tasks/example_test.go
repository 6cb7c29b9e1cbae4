package tasks_test

import (
	"fmt"
	"os"

	"github.com/t2web/t2web/svf/tasks"
)

func ExampleSample() {
	task, err := tasks.Lookup("reasoning")
	if err != nil {
		panic(err)
	}
	exs, err := tasks.Sample(task, tasks.Test, 1, 2)
	if err != nil {
		panic(err)
	}
	tasks.WriteJSONL(os.Stdout, exs)
	fmt.Println(task.Check(exs[0], "The answer is "+exs[0].Output+"."))
	// Output:
	// {"input":"Ed is shorter than Di. Ed is taller than Lou. Who is tallest?\n(A) Ed (B) Lou (C) Di","output":"C"}
	// {"input":"Di is older than Cy. Hal is older than Di. Who is oldest?\n(A) Di (B) Cy (C) Hal","output":"C"}
	// true
}

func ExampleClassificationPrompt() {
	fmt.Println(tasks.ClassificationPrompt("Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?", tasks.Labels()))
	fmt.Println(tasks.ExtractLabel(`Classification: \boxed{math}`, tasks.Labels()))
	// Output:
	// Classify this question as code, math, reasoning or other:
	// Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?
	// math true
}
