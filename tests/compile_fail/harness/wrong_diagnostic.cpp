// Fails to compile, but not with a dstm sentence: the harness must not accept any failure.
static_assert(sizeof(char) == 2, "some other reason");
