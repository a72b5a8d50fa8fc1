// The public header compiles as C++ on its own.
#include "edgefusion.h"
int main() { return ef_status_str(EF_OK) ? 0 : 1; }
