cwlVersion: v1.2
class: CommandLineTool
doc: Returns its numeric inputs as outputs (parameter references only, no JavaScript).
baseCommand: "true"
inputs:
  float: float
  big: Any
outputs:
  float_out:
    type: float
    outputBinding:
      outputEval: $(inputs.float)
  big_out:
    type: Any
    outputBinding:
      outputEval: $(inputs.big)
