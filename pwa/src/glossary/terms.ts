// A curated glossary of common words in Chinese imaging reports (issue 19 item 5): what a word means in
// general, in plain language, with where the definition comes from. Shown when a reader taps the word in
// a report; it never says what the word means for this person (that is the doctor's to say).
// Sources (cited per entry):
//   FS  Hansell DM et al. Fleischner Society: glossary of terms for thoracic imaging. Radiology 2008;246(3):697-722.
//   CN  中华医学会呼吸病学分会肺癌学组. 肺结节诊治中国专家共识（2018年版）. 中华结核和呼吸杂志 2018;41(10):763-771.
//   MT  全国科学技术名词审定委员会. 医学名词（影像医学与核医学）. 科学出版社.
//   RAD 中华医学会放射学分会. 放射诊断报告书写规范（专家共识）.
export interface Term {
  term: string
  zh: string
  en: string
  source: 'FS' | 'CN' | 'MT' | 'RAD'
}

export const SOURCES: Record<Term['source'], string> = {
  FS: 'Fleischner Society glossary of terms for thoracic imaging, Radiology 2008;246:697–722',
  CN: '肺结节诊治中国专家共识（2018年版），中华结核和呼吸杂志 2018;41:763–771',
  MT: '全国科学技术名词审定委员会《医学名词（影像医学与核医学）》',
  RAD: '中华医学会放射学分会《放射诊断报告书写规范》专家共识',
}

export const TERMS: Term[] = [
  { term: '磨玻璃结节', source: 'CN', zh: '肺里一小片密度稍高、像磨砂玻璃一样的模糊影，透过它仍能看到血管。多数由炎症、出血等良性原因引起，部分需要按医生建议定期复查观察变化。', en: 'A small hazy area in the lung, like frosted glass, through which vessels are still visible. Many have benign causes such as inflammation; some are followed with repeat scans as the doctor advises.' },
  { term: '磨玻璃', source: 'FS', zh: '影像上一种密度稍高的模糊影，像磨砂玻璃，下面的血管和支气管仍能看见。', en: 'Ground-glass: a hazy increase in lung density through which vessels and airways remain visible.' },
  { term: '结节', source: 'FS', zh: '直径不超过 3 厘米的圆形或类圆形病灶。大小、形态和随时间的变化决定是否需要进一步检查。', en: 'A rounded spot up to 3 cm across. Its size, shape and change over time decide whether more tests are needed.' },
  { term: '微小结节', source: 'CN', zh: '直径小于 5 毫米的结节，通常按医生建议定期复查即可。', en: 'A nodule smaller than 5 mm; usually just followed up as the doctor advises.' },
  { term: '实性结节', source: 'CN', zh: '密度均匀、把血管完全遮住的结节。', en: 'A nodule dense enough to hide the vessels behind it.' },
  { term: '钙化灶', source: 'MT', zh: '组织里沉积了钙盐的小区域，在 CT 上很白。常是以前炎症愈合后留下的痕迹，多数是良性的。', en: 'A small area where calcium has deposited; very bright on CT. Often a healed scar of old inflammation and usually benign.' },
  { term: '钙化', source: 'MT', zh: '组织中钙盐沉积，影像上表现为很高的密度（很白）。', en: 'Calcium deposits in tissue, shown as very bright on imaging.' },
  { term: '占位', source: 'RAD', zh: '“占位性病变”的简称：某处多出了一块东西，占据了正常组织的位置。它只描述“有东西”，不说明性质，需要结合其他检查判断。', en: 'Short for a space-occupying lesion: something takes up space where normal tissue should be. It says nothing about what it is; other tests tell.' },
  { term: '强化', source: 'MT', zh: '注射造影剂后，某处变得更亮。医生根据强化的方式判断血供情况。', en: 'Enhancement: an area becomes brighter after contrast is injected; the pattern tells the doctor about its blood supply.' },
  { term: '增强扫描', source: 'MT', zh: '静脉注射造影剂后进行的扫描，可以更清楚地显示血管和病灶。', en: 'A scan after contrast is injected into a vein, showing vessels and lesions more clearly.' },
  { term: '平扫', source: 'MT', zh: '不注射造影剂的普通扫描。', en: 'A plain scan, without contrast.' },
  { term: '纹理增多', source: 'MT', zh: '肺里的线条影（主要是血管和支气管）比一般人多或粗，常见于吸烟、慢性支气管炎或年龄增长。', en: 'More or thicker lung markings (mostly vessels and airways), common with smoking, chronic bronchitis or age.' },
  { term: '斑片影', source: 'FS', zh: '边界不清的片状密度增高影，常见于炎症。', en: 'A patchy, ill-defined area of higher density, often seen with inflammation.' },
  { term: '条索影', source: 'FS', zh: '细长的线条状影，常是纤维化或陈旧病变留下的痕迹。', en: 'A thin linear shadow, often from scarring or an old lesion.' },
  { term: '纤维灶', source: 'MT', zh: '组织修复后留下的瘢痕样改变，多为陈旧性、稳定的表现。', en: 'Scar-like tissue left after healing; usually old and stable.' },
  { term: '肺气肿', source: 'FS', zh: '肺泡被破坏、肺里空气过多的状态，常与长期吸烟有关。', en: 'Emphysema: damaged air sacs leave too much air in the lungs; often linked to long-term smoking.' },
  { term: '胸腔积液', source: 'MT', zh: '肺和胸壁之间的间隙里积了液体。', en: 'Pleural effusion: fluid between the lung and the chest wall.' },
  { term: '肋膈角', source: 'MT', zh: '胸片上肋骨和膈肌相交形成的尖角；“锐利”表示没有积液。', en: 'The corner where the ribs meet the diaphragm on an X-ray; “sharp” means no fluid there.' },
  { term: '淋巴结', source: 'MT', zh: '遍布全身的小豆状免疫器官；报告中常描述其大小，短径较大时医生会进一步评估。', en: 'Small bean-shaped immune organs throughout the body; reports give their size, and larger ones are looked at further.' },
  { term: '纵隔', source: 'MT', zh: '两肺之间的区域，里面有心脏、大血管、气管和食管等。', en: 'The space between the lungs that holds the heart, great vessels, windpipe and gullet.' },
  { term: '腔隙性', source: 'MT', zh: '“腔隙性脑梗死/缺血灶”指脑深部的很小（通常小于 1.5 厘米）的缺血病灶，多与高血压、年龄等有关。', en: 'Lacunar: very small (usually under 1.5 cm) areas of past poor blood flow deep in the brain, often linked to blood pressure and age.' },
  { term: '缺血灶', source: 'MT', zh: '曾经供血不足的小区域。', en: 'A small area that once had too little blood supply.' },
  { term: '长T2信号', source: 'MT', zh: '磁共振 T2 图像上比周围更亮的信号，常提示该处含水较多，需结合其他序列判断。', en: 'Brighter than the surroundings on T2-weighted MR, usually meaning more water there; read with the other sequences.' },
  { term: '脂肪肝', source: 'MT', zh: '肝细胞里积存了过多脂肪，超声上肝脏回声变亮。与饮食、体重、饮酒等有关。', en: 'Too much fat in liver cells; the liver looks brighter on ultrasound. Linked to diet, weight and alcohol.' },
  { term: '囊肿', source: 'MT', zh: '内部是液体、壁薄而光滑的囊状结构，绝大多数是良性的。', en: 'A thin-walled sac filled with fluid; the vast majority are benign.' },
  { term: '回声', source: 'MT', zh: '超声波遇到组织反射回来的信号。回声“增强”显得更亮，“减低”显得更暗。', en: 'The ultrasound signal reflected by tissue; “increased” looks brighter, “decreased” darker.' },
  { term: '反流', source: 'MT', zh: '心脏瓣膜关闭时有少量血液倒流。少量反流在健康人中也很常见。', en: 'Regurgitation: a little blood flows back through a closing heart valve; a small amount is common in healthy people.' },
  { term: '射血分数', source: 'MT', zh: '心脏每次跳动把左心室里多少比例的血泵出去，反映心脏的收缩功能，一般 50% 以上为正常范围。', en: 'Ejection fraction: the share of blood the left ventricle pumps out with each beat; about 50% or more is usually normal.' },
  { term: '肌腱', source: 'MT', zh: '把肌肉连接到骨头上的坚韧组织。', en: 'Tough tissue that connects muscle to bone.' },
  { term: '滑囊', source: 'MT', zh: '关节附近减少摩擦的小囊，少量积液可见于劳损或炎症。', en: 'A small cushioning sac near a joint; a little fluid can come with strain or inflammation.' },
  { term: '积液', source: 'MT', zh: '某个腔隙或组织里积聚了液体。', en: 'Fluid collected in a space or tissue.' },
  { term: '骨质增生', source: 'MT', zh: '骨头边缘长出的骨刺样改变，多与年龄和关节劳损有关。', en: 'Bony spurs at the edge of bones, mostly from age and wear.' },
  { term: '椎间盘突出', source: 'MT', zh: '椎间盘的一部分向外鼓出，可能压迫神经。', en: 'Part of a spinal disc bulges out and may press on a nerve.' },
  { term: '高密度影', source: 'MT', zh: 'CT 上比周围更白的区域（比如钙化、出血、造影剂）。', en: 'An area whiter than its surroundings on CT (such as calcium, blood or contrast).' },
  { term: '低密度影', source: 'MT', zh: 'CT 上比周围更暗的区域（比如液体、脂肪）。', en: 'An area darker than its surroundings on CT (such as fluid or fat).' },
  { term: '未见明显异常', source: 'RAD', zh: '这次检查所见范围内，没有发现需要特别指出的问题。', en: 'Nothing that needs pointing out was seen within what this exam covers.' },
  { term: '建议随访', source: 'RAD', zh: '医生建议过一段时间再复查，观察有无变化。', en: 'The doctor advises a repeat exam after a while to see whether anything changes.' },
  { term: '随访', source: 'RAD', zh: '过一段时间后再次检查，观察变化。', en: 'Follow-up: a repeat exam after some time to watch for change.' },
  { term: '复查', source: 'RAD', zh: '按医生建议的时间再做一次同样的检查。', en: 'A repeat of the same exam at the time the doctor advises.' },
  { term: '心影', source: 'MT', zh: '胸片上心脏的轮廓；“不大”表示大小在正常范围。', en: 'The outline of the heart on a chest X-ray; “not enlarged” means a normal size.' },
]
