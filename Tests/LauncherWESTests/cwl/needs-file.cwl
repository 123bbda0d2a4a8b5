cwlVersion: v1.2
class: CommandLineTool
doc: Fails unless the given path exists (used to test retry after fixing an input).
baseCommand: [sh, -c]
arguments: ['test -e "$0" || { echo "missing $0" >&2; exit 4; }; echo found > found.txt', $(inputs.reference)]
inputs:
  reference: string
outputs:
  found:
    type: File
    outputBinding:
      glob: found.txt
