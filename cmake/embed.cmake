# agora_embed(OUT_C VAR FILE...) writes OUT_C defining, for each file,
# a table `const struct embedded_file VAR[]` (core/embed.h) of
# {name, data, len}, one entry per file in order, terminated by {NULL}.
# Regenerated when an input changes.
function(agora_embed out_c var)
  set(inputs ${ARGN})
  # A list would split into several command-line arguments; pass one string.
  string(REPLACE ";" "|" joined "${inputs}")
  add_custom_command(
    OUTPUT ${out_c}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_c} -DVAR=${var} "-DINPUTS=${joined}"
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${inputs} ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    COMMENT "Embedding ${var}"
    VERBATIM)
endfunction()
