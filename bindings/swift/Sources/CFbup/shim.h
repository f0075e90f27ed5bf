#include <fbup.h>
