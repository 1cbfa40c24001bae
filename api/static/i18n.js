// Words of the dashboard, Chinese first (the default), English second. No library: a table.
"use strict";
const WORDS = {
  zh: {
    alarms: "告警", show_closed: "显示已销号", plan: "平面图", wind: "风速", crane: "塔吊", charts: "监测曲线",
    trends: "基坑与高支模监测", time_to_limit: "距控制值", no_forecast: "无趋势预警",
    devices: "设备", channel: "通道", close: "关闭", ack: "确认", ack_do: "确认告警", note_optional: "备注（可选）",
    assign: "指派整改", assignee: "整改责任人", deadline: "整改期限", assign_do: "指派", close_alarm: "销号",
    close_note: "整改情况（必填）", override: "仍在告警中：销号理由（必填）", close_do: "销号", audit: "处理记录",
    sign_in: "登录", sign_out: "退出", cancel: "取消", token: "令牌", token_help: "向网关管理员索取个人令牌。",
    anonymous: "未登录", live: "实时", offline: "离线", connecting: "连接中…",
    active_n: "{n} 条活动告警", none_active: "无活动告警", no_alarms: "暂无告警",
    grade0: "正常", grade1: "黄色预警", grade2: "橙色报警", grade3: "红色危险", cleared: "已恢复",
    open: "待处理", acknowledged: "已确认", rectifying: "整改中", closed: "已销号",
    value: "数值", limit: "限值", where: "位置", raised: "发生", updated: "更新", status: "状态",
    forecast: "预计到达限值", minutes: "{n} 分钟", rule: "规则", by: "处理人",
    no_plan: "未配置平面图（site.plan）", legend_stale: "离线/无数据",
    ok: "正常", stale: "超时", failing: "故障", bad_data: "数据异常", no_data: "无数据", maintenance: "检修",
    wind_3s: "3秒风速", wind_2min: "2分钟平均", wind_10min: "10分钟平均", gust: "阵风", level: "风级",
    stop_lifting: "停止吊装（≥{n}级）", watch: "注意风力（≥{n}级）", lifting_ok: "可以吊装",
    load: "吊重", rated: "额定", radius: "幅度", height: "高度", slew: "回转", moment: "力矩",
    cycles: "最近工作循环", no_cycles: "暂无", needs_role: "权限不足：需要主管角色", not_signed_in: "请先登录",
    done: "已完成", last_good: "最后有效", link_up: "链路正常", link_down: "链路断开",
    q_wind_speed: "风速", q_disp_h: "水平位移", q_disp_v: "竖向位移", q_settlement: "沉降", q_tilt: "倾斜",
    q_load_ratio: "载荷率", q_moment_ratio: "力矩比", q_wind_level: "风级", q_axial_force: "轴力",
    q_load: "吊重", q_radius: "幅度", q_height: "高度", q_slew: "回转",
    q_wind_3s: "3秒风速", q_wind_2min: "2分钟风速", q_wind_10min: "10分钟风速", q_gust: "阵风",
  },
  en: {
    alarms: "Alarms", show_closed: "show closed", plan: "Site plan", wind: "Wind", crane: "Tower crane", charts: "Charts",
    trends: "Pit and formwork", time_to_limit: "to the limit", no_forecast: "no trend alarm",
    devices: "Devices", channel: "Channel", close: "Close", ack: "Acknowledge", ack_do: "Acknowledge", note_optional: "Note (optional)",
    assign: "Assign rectification", assignee: "Assignee", deadline: "Deadline", assign_do: "Assign", close_alarm: "Close (销号)",
    close_note: "Rectification done (required)", override: "Still active: reason to close anyway (required)", close_do: "Close alarm",
    audit: "Audit trail", sign_in: "Sign in", sign_out: "Sign out", cancel: "Cancel", token: "Token",
    token_help: "Ask the gateway's administrator for your personal token.",
    anonymous: "not signed in", live: "live", offline: "offline", connecting: "connecting…",
    active_n: "{n} active", none_active: "no active alarm", no_alarms: "no alarms",
    grade0: "normal", grade1: "yellow", grade2: "orange", grade3: "red", cleared: "cleared",
    open: "open", acknowledged: "acknowledged", rectifying: "rectifying", closed: "closed",
    value: "Value", limit: "Limit", where: "Where", raised: "Raised", updated: "Updated", status: "Status",
    forecast: "Reaches the limit in", minutes: "{n} min", rule: "Rule", by: "By",
    no_plan: "no site plan configured (site.plan)", legend_stale: "offline / no data",
    ok: "ok", stale: "stale", failing: "failing", bad_data: "bad data", no_data: "no data", maintenance: "maintenance",
    wind_3s: "3 s", wind_2min: "2 min", wind_10min: "10 min", gust: "gust", level: "level",
    stop_lifting: "STOP LIFTING (level ≥ {n})", watch: "watch the wind (level ≥ {n})", lifting_ok: "lifting allowed",
    load: "load", rated: "rated", radius: "radius", height: "height", slew: "slew", moment: "moment",
    cycles: "Recent working cycles", no_cycles: "none yet", needs_role: "Not allowed: needs the supervisor role",
    not_signed_in: "Sign in first", done: "done", last_good: "last good", link_up: "link up", link_down: "link down",
    q_wind_speed: "wind speed", q_disp_h: "horizontal displacement", q_disp_v: "vertical displacement",
    q_settlement: "settlement", q_tilt: "tilt", q_load_ratio: "load ratio", q_moment_ratio: "moment ratio",
    q_wind_level: "wind level", q_axial_force: "axial force", q_load: "load", q_radius: "radius", q_height: "height",
    q_slew: "slew", q_wind_3s: "3 s wind", q_wind_2min: "2 min wind", q_wind_10min: "10 min wind", q_gust: "gust",
  },
};
let LANG = localStorage.getItem("smartsite-lang") === "en" ? "en" : "zh";
function t(key, vars) {
  let text = (WORDS[LANG] && WORDS[LANG][key]) || WORDS.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replace("{" + k + "}", v);
  return text;
}
function quantityName(q) { const key = "q_" + q; const text = t(key); return text === key ? q : text; }
function setLang(lang) {
  LANG = lang === "en" ? "en" : "zh";
  localStorage.setItem("smartsite-lang", LANG);
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-label]")) el.setAttribute("aria-label", t(el.dataset.tLabel));
  const other = document.getElementById("lang");
  other.textContent = LANG === "zh" ? "EN" : "中文";
  other.lang = LANG === "zh" ? "en" : "zh-CN";
}
