// The system LMDB from Debian's liblmdb-dev (see scripts/lib.sh).
#include <lmdb.h>
