# DWIPACK_SANITIZE=address,undefined adds the sanitizers to every target (see the asan preset).
if(DWIPACK_SANITIZE)
  add_compile_options(-fsanitize=${DWIPACK_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${DWIPACK_SANITIZE})
endif()
