"""A stand-in renderer for the template error tests: runs the steps given as arguments.

print:TEXT      print a line           sleep:S      sleep S seconds
bulk:BYTES      print BYTES of filler  write:PATH   create a file
exit:CODE       exit with CODE
"""

import sys
import time


def main(steps: list[str]) -> int:
    for step in steps:
        verb, _, arg = step.partition(":")
        if verb == "print":
            print(arg, flush=True)
        elif verb == "sleep":
            time.sleep(float(arg))
        elif verb == "bulk":
            line = "filler " + "x" * 92 + "\n"
            count = int(arg) // len(line) + 1
            sys.stdout.write(line * count)
            sys.stdout.flush()
        elif verb == "write":
            with open(arg, "w") as stream:
                stream.write("image\n")
        elif verb == "exit":
            return int(arg)
        else:
            print(f"unknown step {step!r}", flush=True)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
