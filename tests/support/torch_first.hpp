#pragma once

// Force-included first into every test that links sri::sri. Debian's libtorch 1.13 pulls in glog
// through <ATen/ATen.h>, and glog defines CHECK, CHECK_EQ and friends, which would replace
// doctest's macros in any file that includes doctest before a libtorch header: a failing check
// would then abort the program instead of being reported. Including ATen here, removing glog's
// macros, and letting doctest define its own afterwards keeps every check a doctest check.

#include <ATen/ATen.h>

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#undef CHECK_NOTNULL
#undef DCHECK
#undef DCHECK_EQ
#undef DCHECK_NE
#undef DCHECK_LT
#undef DCHECK_LE
#undef DCHECK_GT
#undef DCHECK_GE
