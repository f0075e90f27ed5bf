module github.com/fbup/fbup/bindings/go

go 1.19
