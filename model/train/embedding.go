package train

// embeddingForward writes out[N,D], row n the row inp[n] of wte[V,D].
func embeddingForward[E Float](out []E, inp []int, wte []E, N, D int) {
	for n, tok := range inp[:N] {
		copy(out[n*D:n*D+D], wte[tok*D:tok*D+D])
	}
}

// embeddingBackward adds each row of dout[N,D] to row inp[n] of dwte[V,D].
func embeddingBackward[E Float](dwte, dout []E, inp []int, N, D int) {
	for n, tok := range inp[:N] {
		axpy(dwte[tok*D:tok*D+D], 1, dout[n*D:n*D+D])
	}
}
