// Runs an Argo CD resource health script (Lua) with fengari, the Lua VM from npm, the way Argo CD does:
// the live object as the global `obj`, the script's returned table as {status, message}.
import { createRequire } from 'node:module';

type LuaState = object;
interface Fengari {
  lua: {
    LUA_OK: number;
    LUA_TTABLE: number;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_pushnil(L: LuaState): void;
    lua_pushboolean(L: LuaState, b: boolean): void;
    lua_pushinteger(L: LuaState, n: number): void;
    lua_pushnumber(L: LuaState, n: number): void;
    lua_pushstring(L: LuaState, s: Uint8Array): void;
    lua_rawseti(L: LuaState, index: number, n: number): void;
    lua_setfield(L: LuaState, index: number, k: Uint8Array): void;
    lua_getfield(L: LuaState, index: number, k: Uint8Array): number;
    lua_setglobal(L: LuaState, name: Uint8Array): void;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_type(L: LuaState, index: number): number;
    lua_tojsstring(L: LuaState, index: number): string | null;
    lua_pop(L: LuaState, n: number): void;
  };
  lauxlib: {
    luaL_newstate(): LuaState;
    luaL_loadstring(L: LuaState, s: Uint8Array): number;
  };
  lualib: { luaL_openlibs(L: LuaState): void };
  to_luastring(s: string): Uint8Array;
}

const fengari = createRequire(import.meta.url)('fengari') as Fengari;
const { lua, lauxlib, lualib, to_luastring } = fengari;

export interface HealthStatus {
  status: string | null;
  message: string | null;
}

/** Pushes a JSON value as Lua would see it in Argo CD: objects and arrays become tables (arrays 1-based). */
function push(L: LuaState, value: unknown): void {
  if (value === null || value === undefined) lua.lua_pushnil(L);
  else if (typeof value === 'boolean') lua.lua_pushboolean(L, value);
  else if (typeof value === 'number') {
    if (Number.isInteger(value)) lua.lua_pushinteger(L, value);
    else lua.lua_pushnumber(L, value);
  } else if (typeof value === 'string') lua.lua_pushstring(L, to_luastring(value));
  else if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0);
    value.forEach((item, i) => {
      push(L, item);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined && v !== null);
    lua.lua_createtable(L, 0, entries.length);
    for (const [key, item] of entries) {
      push(L, item);
      lua.lua_setfield(L, -2, to_luastring(key));
    }
  } else throw new Error(`cannot pass a ${typeof value} to Lua`);
}

function stringField(L: LuaState, name: string): string | null {
  lua.lua_getfield(L, -1, to_luastring(name));
  const value = lua.lua_tojsstring(L, -1);
  lua.lua_pop(L, 1);
  return value;
}

/** Evaluates `script` with `obj` set; throws with Lua's message on a syntax or runtime error. */
export function runHealthScript(script: string, obj: unknown): HealthStatus {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  push(L, obj);
  lua.lua_setglobal(L, to_luastring('obj'));
  if (lauxlib.luaL_loadstring(L, to_luastring(script)) !== lua.LUA_OK) throw new Error(`Lua syntax error: ${lua.lua_tojsstring(L, -1) ?? '?'}`);
  if (lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) throw new Error(`Lua runtime error: ${lua.lua_tojsstring(L, -1) ?? '?'}`);
  if (lua.lua_type(L, -1) !== lua.LUA_TTABLE) throw new Error('the health script did not return a table');
  return { status: stringField(L, 'status'), message: stringField(L, 'message') };
}
