"""The HTML report: one self-contained file (no external URL: styles, data and the chart code
are inline). Tables are rendered here; charts are drawn as SVG by a small inline script from
the embedded report JSON, so the page needs nothing but a browser.

Every chart container carries ``data-chart``; once drawn it gets ``data-rendered="1"`` and the
page's ``<body>`` gets ``data-charts-rendered`` (a count) and ``data-errors`` (script errors,
if any). The browser test reads those attributes from the DOM.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;
background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:16px 28px}header h1{margin:0;font-size:20px}
header .meta{color:#b8c0cc;font-size:12px;margin-top:4px}
main{padding:12px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:14px 18px;margin:14px 0}
h2{font-size:16px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right}td:first-child,th:first-child,td.l,th.l{text-align:left}
th{background:#fafbfc;font-weight:600}
.flag{color:#b42318;font-weight:600}.ok{color:#067647}.dim{color:#667085}
.note{color:#667085;font-size:12px;margin:6px 0}
.chart{overflow-x:auto;margin:6px 0}svg text{font-family:inherit}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:-2px}
"""

_JS = r"""
(function(){
'use strict';
var errors=[];
window.addEventListener('error',function(e){errors.push(String(e.message));
  document.body.setAttribute('data-errors',errors.join(' | '));});
var R=JSON.parse(document.getElementById('report-data').textContent);
var NS='http://www.w3.org/2000/svg';
function el(name,attrs,parent,text){var e=document.createElementNS(NS,name);
  for(var k in attrs){e.setAttribute(k,attrs[k]);} if(text!==undefined){e.textContent=text;}
  if(parent){parent.appendChild(e);} return e;}
function tip(e,text){el('title',{},e,text);return e;}
function pct(x,d){return (x*100).toFixed(d===undefined?1:d)+'%';}
function svg(container,w,h){var s=el('svg',{width:w,height:h,viewBox:'0 0 '+w+' '+h,role:'img'});
  container.appendChild(s);return s;}
function done(c){c.setAttribute('data-rendered','1');}
var PALETTE=['#3b6fb6','#e07b39','#4a9d5b','#c64b55','#8b6bb8','#8c6d3f','#d46fae','#6f7782',
  '#b3a732','#38a6b5','#9bb8e0','#f2b48a'];
function heat(t){var a=Math.max(0,Math.min(1,t));var r=Math.round(255-(255-180)*a),
  g=Math.round(255-(255-35)*a),b=Math.round(255-(255-24)*a);return 'rgb('+r+','+g+','+b+')';}
var flagged={};(R.flags||[]).forEach(function(f){flagged[f.stage+'\u0000'+f.facet+'\u0000'+f.value]=f;});

function drawFunnel(c){
  var st=R.funnel.stages;var inp=R.funnel.input.docs||(st.length?st[0]['in']:0);
  var W=820,rowH=26,left=150,barW=W-left-180,H=(st.length+2)*rowH+10;var s=svg(c,W,H);
  var y=4;function row(label,kept,removed,mod,note){
    el('text',{x:left-8,y:y+17,'text-anchor':'end','font-size':12},s,label);
    var wk=inp?barW*kept/inp:0,wr=inp?barW*removed/inp:0;
    tip(el('rect',{x:left,y:y+3,width:Math.max(wk,0),height:rowH-8,fill:'#3b6fb6'},s),
      label+': '+kept.toLocaleString()+' documents continue');
    if(removed>0){tip(el('rect',{x:left+wk,y:y+3,width:Math.max(wr,1),height:rowH-8,
      fill:'#e5554f'},s),label+': '+removed.toLocaleString()+' removed');}
    el('text',{x:left+wk+wr+6,y:y+17,'font-size':12,fill:'#344054'},s,note);y+=rowH;}
  row('input',inp,0,0,inp.toLocaleString()+' documents');
  st.forEach(function(r){row(r.stage,r.out,r.removed,r.modified,
    '−'+r.removed.toLocaleString()+' ('+pct(r.rate)+')'+(r.modified?' · '+r.modified.toLocaleString()+' modified':''));});
  var out=R.funnel.output.docs;if(out!==undefined){row('output',out,0,0,out.toLocaleString()+' kept ('+pct(inp?out/inp:0)+')');}
  done(c);}

function drawHeatmap(c){
  var facet=c.getAttribute('data-facet');
  var rows=R.rates.filter(function(r){return r.facet===facet;});
  var stages=[];rows.forEach(function(r){if(stages.indexOf(r.stage)<0&&r.overall>0)stages.push(r.stage);});
  var n={};rows.forEach(function(r){if(r.stage===stages[0])n[r.value]=r['in'];});
  var groups=Object.keys(n).sort(function(a,b){return n[b]-n[a];}).slice(0,25);
  var longest=0;stages.forEach(function(st){longest=Math.max(longest,st.length);});
  var cellW=80,cellH=24,left=150,top=Math.min(24+longest*4,130),W=left+cellW*Math.max(stages.length,1)+90,
    H=top+cellH*(groups.length+1)+10;var s=svg(c,W,H);
  stages.forEach(function(st,j){var x=left+j*cellW+cellW/2;el('text',{x:x,y:top-8,'font-size':12,
    'font-weight':600,transform:'rotate(-35 '+x+' '+(top-8)+')'},s,st);});
  el('text',{x:left-8,y:top+16,'text-anchor':'end','font-size':12,fill:'#667085'},s,'overall');
  var cell={};rows.forEach(function(r){cell[r.stage+'\u0000'+r.value]=r;});
  var overall={};rows.forEach(function(r){overall[r.stage]=r.overall;});
  stages.forEach(function(st,j){var o=overall[st];
    tip(el('rect',{x:left+j*cellW+1,y:top+1,width:cellW-2,height:cellH-2,fill:'#eef1f5'},s),st+' overall '+pct(o));
    el('text',{x:left+j*cellW+cellW/2,y:top+16,'text-anchor':'middle','font-size':12,fill:'#667085'},s,pct(o));});
  groups.forEach(function(g,i){var y=top+(i+1)*cellH;
    el('text',{x:left-8,y:y+16,'text-anchor':'end','font-size':12},s,g+' ('+n[g].toLocaleString()+')');
    stages.forEach(function(st,j){var r=cell[st+'\u0000'+g];if(!r)return;
      var ratio=r.overall>0?r.lo/r.overall:0;var t=Math.max(0,Math.min(1,(ratio-1)/3));
      var small=r['in']<R.run.options.min_support;
      var f=flagged[st+'\u0000'+facet+'\u0000'+g];
      var rect=el('rect',{x:left+j*cellW+1,y:y+1,width:cellW-2,height:cellH-2,
        fill:small?'#f4f4f5':heat(t),stroke:f?'#b42318':'none','stroke-width':f?2.5:0},s);
      tip(rect,st+' · '+facet+'='+g+': removed '+r.removed+' of '+r['in']+' = '+pct(r.rate)+
        ' (95% CI '+pct(r.lo)+'–'+pct(r.hi)+'), overall '+pct(r.overall)+(f?' · FLAGGED':'')+
        (small?' · too few to judge':''));
      el('text',{x:left+j*cellW+cellW/2,y:y+16,'text-anchor':'middle','font-size':12,
        fill:small?'#98a2b3':(t>0.6?'#fff':'#1d2430'),'font-weight':f?700:400},s,pct(r.rate)+(f?' ⚑':''));});});
  done(c);}

function drawBars(c){
  var st=c.getAttribute('data-stage'),facet=c.getAttribute('data-facet');
  var ms=R.run.options.min_support;
  var rows=R.rates.filter(function(r){return r.stage===st&&r.facet===facet&&r['in']>=ms;})
    .sort(function(a,b){return b['in']-a['in'];}).slice(0,20);
  var W=820,left=150,rowH=22,top=22,plotW=W-left-120,H=top+rowH*rows.length+28;var s=svg(c,W,H);
  var maxv=0;rows.forEach(function(r){maxv=Math.max(maxv,r.hi);});maxv=Math.max(maxv,0.05);
  function X(v){return left+plotW*v/maxv;}
  for(var k=0;k<=4;k++){var v=maxv*k/4;el('line',{x1:X(v),x2:X(v),y1:top-4,y2:top+rowH*rows.length,stroke:'#eee'},s);
    el('text',{x:X(v),y:top+rowH*rows.length+14,'text-anchor':'middle','font-size':11,fill:'#667085'},s,pct(v,0));}
  var o=rows.length?rows[0].overall:0;
  rows.forEach(function(r,i){var y=top+i*rowH;var f=flagged[st+'\u0000'+facet+'\u0000'+r.value];
    var small=r['in']<R.run.options.min_support;
    el('text',{x:left-8,y:y+15,'text-anchor':'end','font-size':12},s,r.value+' ('+r['in'].toLocaleString()+')');
    tip(el('rect',{x:left,y:y+4,width:Math.max(X(r.rate)-left,0.5),height:rowH-8,
      fill:f?'#d92d20':(small?'#c8ccd2':'#7a9cc6')},s),
      r.value+': '+pct(r.rate)+' (95% CI '+pct(r.lo)+'–'+pct(r.hi)+')');
    el('line',{x1:X(r.lo),x2:X(r.hi),y1:y+rowH/2,y2:y+rowH/2,stroke:'#1d2430','stroke-width':1.5},s);
    el('line',{x1:X(r.lo),x2:X(r.lo),y1:y+6,y2:y+rowH-6,stroke:'#1d2430','stroke-width':1.5},s);
    el('line',{x1:X(r.hi),x2:X(r.hi),y1:y+6,y2:y+rowH-6,stroke:'#1d2430','stroke-width':1.5},s);
    el('text',{x:X(r.hi)+6,y:y+15,'font-size':11,fill:f?'#b42318':'#344054'},s,
      pct(r.rate)+(f?' ⚑':'')+(small?' (n<'+R.run.options.min_support+')':''));});
  el('line',{x1:X(o),x2:X(o),y1:top-8,y2:top+rowH*rows.length,stroke:'#b42318','stroke-dasharray':'4 3'},s);
  el('text',{x:X(o)+4,y:top-10,'font-size':11,fill:'#b42318'},s,'overall '+pct(o));
  done(c);}

function drawMix(c){
  var facet=c.getAttribute('data-facet');var m=R.mix[facet];var vals=m.values.slice(0,11);
  var rest=m.values.slice(11);
  var series=vals.map(function(v){return {name:v.value,b:v.before_share,a:v.after_share};});
  if(rest.length){var b=0,a=0;rest.forEach(function(v){b+=v.before_share;a+=v.after_share;});
    series.push({name:'other ('+rest.length+')',b:b,a:a});}
  var W=820,left=150,barW=W-left-30,H=120;var s=svg(c,W,H);
  [['before ('+m.before_total.toLocaleString()+')','b',10],['after ('+m.after_total.toLocaleString()+')','a',50]].forEach(function(row){
    el('text',{x:left-8,y:row[2]+20,'text-anchor':'end','font-size':12},s,row[0]);var x=left;
    series.forEach(function(sr,i){var w=barW*sr[row[1]];
      tip(el('rect',{x:x,y:row[2],width:Math.max(w,0),height:30,fill:PALETTE[i%PALETTE.length]},s),
        sr.name+': '+pct(sr[row[1]]));
      if(w>38){el('text',{x:x+4,y:row[2]+19,'font-size':11,fill:'#fff'},s,sr.name);} x+=w;});});
  var lg=el('g',{},s);var x=left;series.forEach(function(sr,i){if(x>W-80)return;
    el('rect',{x:x,y:96,width:10,height:10,fill:PALETTE[i%PALETTE.length]},lg);
    el('text',{x:x+14,y:105,'font-size':11},lg,sr.name);x+=Math.max(60,sr.name.length*7+24);});
  done(c);}

function drawOverlap(c){
  var ov=R.independent.overlap;var st=ov.stages;var longest=0;
  st.forEach(function(b){longest=Math.max(longest,b.length);});
  var cell=64,left=150,top=Math.min(24+longest*4,130),
    W=left+cell*st.length+90,H=top+cell*st.length+10;var s=svg(c,W,H);
  st.forEach(function(b,j){var x=left+j*cell+cell/2;el('text',{x:x,y:top-8,'font-size':11,
    'font-weight':600,transform:'rotate(-35 '+x+' '+(top-8)+')'},s,b);});
  st.forEach(function(a,i){el('text',{x:left-8,y:top+i*cell+cell/2+4,'text-anchor':'end','font-size':11,'font-weight':600},s,a);
    st.forEach(function(b,j){var v=ov.matrix[i][j];
      tip(el('rect',{x:left+j*cell+1,y:top+i*cell+1,width:cell-2,height:cell-2,
        fill:v===null?'#f4f4f5':heat(v)},s),'of '+a+' removals, '+(v===null?'–':pct(v))+' also removed by '+b+' ('+ov.counts[i][j]+')');
      el('text',{x:left+j*cell+cell/2,y:top+i*cell+cell/2+4,'text-anchor':'middle','font-size':12,
        fill:(v!==null&&v>0.6)?'#fff':'#1d2430'},s,v===null?'–':pct(v,0));});});
  done(c);}

var drawers={funnel:drawFunnel,heatmap:drawHeatmap,bars:drawBars,mix:drawMix,overlap:drawOverlap};
var count=0;
Array.prototype.forEach.call(document.querySelectorAll('[data-chart]'),function(c){
  try{drawers[c.getAttribute('data-chart')](c);count++;}
  catch(e){errors.push(c.getAttribute('data-chart')+': '+e);
    document.body.setAttribute('data-errors',errors.join(' | '));}});
document.body.setAttribute('data-charts-rendered',String(count));
})();
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def render_html(report: Mapping[str, Any]) -> str:
    run = report["run"]
    opts = run["options"]
    parts: list[str] = []
    a = parts.append
    a("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
      "<meta name='viewport' content='width=device-width,initial-scale=1'>"
      f"<title>corpusfilter report — {_e(run['out'])}</title><style>{_CSS}</style></head><body>")
    fun = report["funnel"]
    inp, out = fun["input"].get("docs", 0), fun["output"].get("docs", 0)
    a(f"<header><h1>Removal report: {_e(run['out'])}</h1><div class='meta'>pipeline "
      f"{_e(run.get('pipeline'))} · corpusfilter {_e(run.get('corpusfilter'))} · finished "
      f"{_e(run.get('finished'))} · {inp:,} documents in, {out:,} out · facets: "
      f"{_e(', '.join(run['facets']) or 'none')}"
      + (f" · <b>limited run</b>: only the first {run['limit']:,} documents of the input "
         f"(--limit)" if run.get("limit") else "")
      + "</div></header><main>")
    # flags
    flags = report["flags"]
    a("<section id='flags'><h2>Disparity flags</h2>")
    a(f"<p class='note'>A group is flagged when a stage removed it at ≥ {opts['k']:g}× the "
      f"stage's overall rate, or its Wilson 95% interval lies ≥ {opts['margin']:.0%} above the "
      f"overall rate; either way the group's interval, widened for the number of stage × group "
      f"pairs compared (Bonferroni, family-wise error {opts.get('alpha', 0.05):g}), must lie "
      f"above the overall rate, and at least {opts['min_support']} documents of the group must "
      f"have reached the stage.</p>")
    if not flags:
        a("<p class='ok'>No disparity flags.</p>")
    else:
        a("<table><tr><th>#</th><th class='l'>stage</th><th class='l'>group</th><th>removed</th>"
          "<th>rate</th><th>95% CI</th><th>overall</th><th>×</th><th>excess</th>"
          "<th class='l'>top reasons</th><th class='l'>adjusted (vs the rest)</th></tr>")
        for i, f in enumerate(flags, 1):
            reasons = ", ".join(f"{r['reason']} ({r['count']:,})"
                                for r in f.get("top_reasons", []))
            a(f"<tr class='flag-row'><td>{i}</td><td class='l'>{_e(f['stage'])}</td>"
              f"<td class='l flag'>{_e(f['facet'])}={_e(f['value'])}</td>"
              f"<td>{f['removed']:,}/{f['in']:,}</td><td class='flag'>{_pct(f['rate'])}</td>"
              f"<td>{_pct(f['lo'])}–{_pct(f['hi'])}</td><td>{_pct(f['overall'])}</td>"
              f"<td>{f['rate'] / f['overall']:.1f}</td><td>{f['excess']:,.0f}</td>"
              f"<td class='l'>{_e(reasons)}</td><td class='l'>{_adjusted(f)}</td></tr>")
        a("</table>")
    a(_undetermined(report.get("undetermined")))
    few = report.get("too_few", [])
    if few:
        a("<h3>Too few to judge</h3><p class='note'>High removal rate, but fewer than "
          f"{opts['min_support']} documents: not flagged.</p><table><tr><th class='l'>stage</th>"
          "<th class='l'>group</th><th>removed</th><th>rate</th><th>overall</th></tr>")
        for f in few[:50]:
            a(f"<tr><td class='l'>{_e(f['stage'])}</td><td class='l'>{_e(f['facet'])}="
              f"{_e(f['value'])}</td><td>{f['removed']}/{f['in']}</td><td>{_pct(f['rate'])}</td>"
              f"<td>{_pct(f['overall'])}</td></tr>")
        a("</table>")
    a("</section>")
    # funnel
    a("<section id='funnel'><h2>Funnel</h2><div class='chart' data-chart='funnel'></div>")
    a("<table><tr><th class='l'>stage</th><th>in</th><th>removed</th><th>rate</th>"
      "<th>modified</th><th>out</th><th>chars removed</th><th>chars cut by edits</th>"
      "<th class='l'>reasons</th></tr>")
    for s in fun["stages"]:
        reasons = ", ".join(f"{r['reason']} ({r['count']:,})" for r in s["reasons"][:5])
        chars = "" if s.get("chars_removed") is None else f"{s['chars_removed']:,}"
        a(f"<tr><td class='l'>{_e(s['stage'])}</td><td>{s['in']:,}</td><td>{s['removed']:,}</td>"
          f"<td>{_pct(s['rate'])}</td><td>{s['modified']:,}</td><td>{s['out']:,}</td>"
          f"<td>{chars}</td><td>{s.get('chars_modified', 0):,}</td>"
          f"<td class='l'>{_e(reasons)}</td></tr>")
    a("</table></section>")
    # rates
    a("<section id='rates'><h2>Removal rate by stage × group</h2><p class='note'>Cell text: "
      "the group's removal rate by that stage. Colour: how far the lower end of its 95% "
      "interval lies above the stage's overall rate (white: not above; dark red: 4× or more), "
      "so colour shows evidence rather than noise. Red outline and ⚑: flagged; grey: too few "
      "documents to judge. Hover for counts and intervals.</p>")
    for facet in run["facets"]:
        if not any(r["facet"] == facet and r["overall"] > 0 for r in report["rates"]):
            continue
        a(f"<h3>by {_e(facet)}</h3><div class='chart' data-chart='heatmap' "
          f"data-facet='{_e(facet)}'></div>")
    stages_with_removals = [s["stage"] for s in fun["stages"] if s["removed"] > 0]
    for st in stages_with_removals:
        for facet in run["facets"]:
            rows = [r for r in report["rates"] if r["facet"] == facet and r["stage"] == st]
            big = [r for r in rows if r["in"] >= opts["min_support"]]
            if not big:
                continue
            a(f"<h3>{_e(st)}: removal rate by {_e(facet)} with 95% intervals</h3>"
              f"<div class='chart' data-chart='bars' data-stage='{_e(st)}' "
              f"data-facet='{_e(facet)}'></div>")
            if len(big) < len(rows):
                k = len(rows) - len(big)
                a(f"<p class='note'>{k} group{'s' if k > 1 else ''} with fewer than "
                  f"{opts['min_support']} documents not drawn (see the heatmap).</p>")
    a("</section>")
    # mix
    if report["mix"]:
        a("<section id='mix'><h2>Corpus mix before and after</h2>")
        for facet, m in report["mix"].items():
            a(f"<h3>by {_e(facet)}</h3><div class='chart' data-chart='mix' "
              f"data-facet='{_e(facet)}'></div>")
            a(f"<table><tr><th class='l'>{_e(facet)}</th><th>before</th><th>after</th>"
              "<th>Δ share</th><th class='l'>moved most by</th></tr>")
            for v in m["values"][:15]:
                by = (f"{_e(v['moved_most_by'])} ({v['moved_most_delta'] * 100:+.1f} pt)"
                      if v["moved_most_by"] else "")
                a(f"<tr><td class='l'>{_e(v['value'])}</td><td>{_pct(v['before_share'])} "
                  f"({v['before']:,})</td><td>{_pct(v['after_share'])} ({v['after']:,})</td>"
                  f"<td>{v['delta'] * 100:+.1f} pt</td><td class='l'>{by}</td></tr>")
            a("</table>")
            movers = ", ".join(f"{_e(s['stage'])} ({s['tv']:.1%})" for s in m["stages"][:3]
                               if s["tv"] > 0)
            if movers:
                a(f"<p class='note'>Stages that shifted the {_e(facet)} mix most (total "
                  f"variation distance between the mix they received and the mix they passed "
                  f"on): {movers}. Before = documents reaching {_e(m['before_stage'])}.</p>")
        a("</section>")
    ind = report.get("independent")
    if ind:
        a("<section id='independent'><h2>Independent vs attributed removal rates</h2>"
          "<p class='note'>Attributed: removed by this stage, of the documents that reached it. "
          "Independent: removed by this stage's thresholds applied on its own to every "
          "document it scored (from <code>scores/</code>).</p><table><tr><th class='l'>stage"
          "</th><th>scored</th><th>independent</th><th>attributed</th><th>agreement with "
          "ledger</th></tr>")
        for s in ind["stages"]:
            a(f"<tr><td class='l'>{_e(s['stage'])}</td><td>{s['scored']:,}</td>"
              f"<td>{_pct(s['rate_independent'])} ({s['removed_independent']:,})</td>"
              f"<td>{_pct(s['rate_attributed'])} ({s['removed_attributed']:,}/{s['seen']:,})"
              f"</td><td>{_pct(s['agreement'])}</td></tr>")
        a("</table>")
        if len(ind["overlap"]["stages"]) > 1:
            a("<h3>Overlap: of the documents row A removes, the share column B also removes"
              "</h3><div class='chart' data-chart='overlap'></div>")
        for label, why in ind.get("skipped", {}).items():
            a(f"<p class='note'>{_e(label)}: {_e(why)}</p>")
        a("</section>")
    data = json.dumps(clean_json(report), ensure_ascii=False, default=str,
                      allow_nan=False).replace("<", "\\u003c")
    a(f"</main><script type='application/json' id='report-data'>{data}</script>"
      f"<script>{_JS}</script></body></html>")
    return "".join(parts)


def _undetermined(und: Mapping[str, Any] | None) -> str:
    """The `und` documents' fate in every stage (report/coverage.py)."""
    if not und:
        return ""
    rows = "".join(f"<tr><td class='l'>{_e(s['stage'])}</td><td>{s['removed']:,}/{s['in']:,}"
                   f"</td><td>{_pct(s['rate'])}</td><td>{_pct(s['overall'])}</td></tr>"
                   for s in und["stages"] if s["in"])
    return (f"<h3 id='undetermined'>{und['docs']:,} documents ({_pct(und['share'])}) with "
            f"{_e(und['facet'])}=und</h3><p class='note'>The language model cannot label "
            f"their language; {und['kept']:,} kept. Their fate in every stage:</p><table><tr>"
            f"<th class='l'>stage</th><th>removed</th><th>rate</th><th>all documents</th></tr>"
            f"{rows}</table>")


def _adjusted(flag: Mapping[str, Any]) -> str:
    """The flag's confounder-adjusted ratio (report/confounders.py), if computed."""
    if not flag.get("adjusted"):
        return ""
    from corpusfilter.report.confounders import describe

    cls = "flag" if flag["adjusted"]["holds"] else "ok"
    return f"<span class='{cls}'>{_e(describe(flag['adjusted']))}</span>"


def clean_json(x: Any) -> Any:
    """NaN/inf become None (JSON has no NaN); tuples become lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    return x


def write_html(report: Mapping[str, Any], path: str | Path) -> Path:
    from corpusfilter.io.shards import write_text_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(render_html(report), path)
    return path
