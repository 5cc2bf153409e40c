# SPDX-License-Identifier: MIT
# Where an installed wgfleet puts things, computed from an install prefix. Included at
# configure time (CPack's conffiles list) and at install time (install(CODE)), because the
# prefix is only known then: `cmake --install build --prefix /opt/x` and CPack (prefix /usr)
# install from the same build as a plain `cmake --install build`. The systemd units name
# their binary and configuration file by absolute path, so they are rendered at install time.
#
# wgfleet_dirs(PREFIX BINDIR SYSCONFDIR DOCDIR) sets, in the caller's scope:
#   WGF_BIN_DIR   PREFIX/BINDIR
#   WGF_CONF_DIR  SYSCONFDIR/wgfleet: /etc/wgfleet for the prefixes /usr and / (what
#                 GNUInstallDirs' CMAKE_INSTALL_FULL_SYSCONFDIR does for /usr, redone here
#                 for the install-time prefix), PREFIX/etc/wgfleet otherwise; an absolute
#                 SYSCONFDIR (-DCMAKE_INSTALL_SYSCONFDIR=/etc) is taken as it is
#   WGF_DOC_DIR   PREFIX/DOCDIR
# Relative BINDIR and DOCDIR are GNUInstallDirs' values (bin, share/doc/wgfleet).
function(wgfleet_dirs prefix bindir sysconfdir docdir)
  string(REGEX REPLACE "/+$" "" p "${prefix}")
  if(IS_ABSOLUTE "${sysconfdir}")
    set(conf "${sysconfdir}")
  elseif(p STREQUAL "/usr" OR p STREQUAL "")
    set(conf "/${sysconfdir}")
  else()
    set(conf "${p}/${sysconfdir}")
  endif()
  foreach(v bindir docdir)
    if(IS_ABSOLUTE "${${v}}")
      set(${v}_full "${${v}}")
    else()
      set(${v}_full "${p}/${${v}}")
    endif()
  endforeach()
  set(WGF_BIN_DIR "${bindir_full}" PARENT_SCOPE)
  set(WGF_CONF_DIR "${conf}/wgfleet" PARENT_SCOPE)
  set(WGF_DOC_DIR "${docdir_full}" PARENT_SCOPE)
endfunction()

# wgfleet_render_units(PREFIX BINDIR SYSCONFDIR DOCDIR OUT_DIR UNIT_IN...): configure each
# UNIT_IN (NAME.service.in) into OUT_DIR/NAME.service with @AGENT_BIN@, @CONTROLLER_BIN@,
# @CONF_DIR@ and @DOC_DIR@ set for PREFIX.
function(wgfleet_render_units prefix bindir sysconfdir docdir out_dir)
  wgfleet_dirs("${prefix}" "${bindir}" "${sysconfdir}" "${docdir}")
  set(AGENT_BIN "${WGF_BIN_DIR}/wgfleet-agent")
  set(CONTROLLER_BIN "${WGF_BIN_DIR}/wgfleet-controller")
  set(CONF_DIR "${WGF_CONF_DIR}")
  set(DOC_DIR "${WGF_DOC_DIR}")
  foreach(in ${ARGN})
    get_filename_component(name "${in}" NAME)
    string(REGEX REPLACE "\\.in$" "" name "${name}")
    configure_file("${in}" "${out_dir}/${name}" @ONLY)
  endforeach()
endfunction()
