#include <stdio.h>

int main(void) {
    puts("Hello from a reproducible release.");
    return 0;
}
